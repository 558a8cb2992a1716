"""DRF authentication by an Auth0 access token in ``Authorization: Bearer <token>``."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from authn import trust
from authn.conf import auth0_settings
from authn.exceptions import InvalidRequest, InvalidToken, SigningKeysUnavailable, challenge
from authn.jwks import KeySetUnavailable
from authn.tokens import AccessToken, MalformedToken, TokenError
from authn.users import TokenUser


class Auth0JWTAuthentication(BaseAuthentication):
    """Bearer tokens only (RFC 6750 §2.1); no header means anonymous, a bad one is refused."""

    def authenticate(self, request: Request) -> tuple[TokenUser, AccessToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        token = bearer_token(header)
        try:
            access_token = trust.get_validator().validate(token)
        except TokenError as err:
            raise InvalidToken(err.description, err.code, err.context) from err
        except KeySetUnavailable as err:
            raise SigningKeysUnavailable(err.retry_after, err.context) from err
        return TokenUser(access_token), access_token

    def authenticate_header(self, request: Request) -> str:
        return challenge()


def bearer_token(header: str) -> str:
    """The token of a ``Bearer <token>`` header; the scheme is case-insensitive."""
    if len(header) > auth0_settings.max_token_length + len("Bearer "):
        # Refused before any parsing: no work is proportional to an attacker's input.
        raise InvalidToken(MalformedToken.description, MalformedToken.code, {})
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise InvalidRequest
    return parts[1]
