"""DRF authentication by an Auth0 access token: ``Bearer`` (RFC 6750) or ``DPoP`` (RFC 9449).

The ``Authorization`` header is read as RFC 7235 has it: a scheme, one or more
spaces, a token68. A scheme this class does not take is left to the
authentication classes listed after it; listed alone, it refuses it.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from authn import confirmation, trust, users
from authn.errors import AuthnError, InvalidRequest, MalformedToken
from authn.exceptions import api_exception, challenge, credentials_challenge
from authn.tokens import AccessToken

SCHEME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
TOKEN68_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"


class Auth0JWTAuthentication(BaseAuthentication):
    """An Auth0 access token; ``request.user`` is a stateless ``TokenUser``, ``request.auth`` the token."""

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        scheme = _accepted_scheme(header)
        try:
            if scheme is None:
                if len(request.authenticators or ()) > 1:
                    return None  # another authentication class may take this scheme
                raise InvalidRequest
            token = _token(header, scheme)
            access_token = trust.get_validator().validate(token, trust.issuers_for(request))
            confirmation.check(request, access_token, scheme, token)
            user = self.user_for(access_token)
        except AuthnError as error:
            error.scheme = _challenge_scheme(scheme)
            request.authn_error = error  # type: ignore[attr-defined] # for authenticate_header()
            raise api_exception(error) from error
        request.authn_scheme = scheme  # type: ignore[attr-defined] # for HasScope's challenge
        return user, access_token

    def user_for(self, access_token: AccessToken) -> Any:
        """The ``request.user`` the token stands for."""
        return users.TokenUser(access_token)

    def authenticate_header(self, request: Request) -> str:
        """The challenge of this request's refusal; DRF asks the first authentication class listed."""
        error = getattr(request, "authn_error", None)
        header = request.META.get("HTTP_AUTHORIZATION")
        if error is None and header is not None:
            if _accepted_scheme(header) is None and (other := self._others_challenge(request)):
                return other  # the scheme of another class listed: its challenge
            error = InvalidRequest()  # nobody took the credentials sent
            error.scheme = _challenge_scheme(_accepted_scheme(header))
        return (challenge(error) if error is not None else None) or credentials_challenge()

    def _others_challenge(self, request: Request) -> str | None:
        for other in request.authenticators or ():
            found = getattr(other, "authenticate_header", None) if other is not self else None
            if found is not None and isinstance(value := found(request), str) and value:
                return value
        return None


class Auth0UserAuthentication(Auth0JWTAuthentication):
    """Like ``Auth0JWTAuthentication``, with ``request.user`` a row of the user model found (or made) by ``sub``."""

    def user_for(self, access_token: AccessToken) -> Any:
        return users.user_for_token(access_token)


def request_scheme(header: str) -> str | None:
    """The scheme an ``Authorization`` header names, lowercased; ``None`` if it does not start with one."""
    found = SCHEME.match(header)
    return found.group().lower() if found else None


def _accepted_scheme(header: str) -> str | None:
    """``"bearer"`` or ``"dpop"`` when the header uses one of our schemes (case-insensitive); else ``None``."""
    scheme = request_scheme(header)
    if scheme == "bearer" or (scheme == "dpop" and trust.request_policy().dpop_mode != "disabled"):
        return scheme
    return None


def _challenge_scheme(scheme: str | None) -> str:
    """The scheme a refusal's challenge uses: the request's when the mode accepts it, else the mode's own."""
    mode = trust.request_policy().dpop_mode
    if mode == "allowed":
        return "dpop" if scheme == "dpop" else "bearer"
    return "dpop" if mode == "required" else "bearer"


def _token(header: str, scheme: str) -> str:
    """The token68 of ``<scheme> 1*SP <token68>`` (RFC 7235 §2.1), within the size limit."""
    policy = trust.request_policy()
    if len(header) > policy.max_header_length:
        raise MalformedToken  # refused before any parsing: no work proportional to an attacker's input
    written_scheme, space, rest = header.partition(" ")
    token = rest.lstrip(" ")
    if written_scheme.lower() != scheme or not space or not _is_token68(token):
        raise InvalidRequest
    if scheme == "bearer" and policy.dpop_mode == "required":
        raise InvalidRequest("Authorization header must be DPoP token.")
    return token


def _is_token68(value: str) -> bool:
    """1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", checked at C speed."""
    body = value.rstrip("=")
    return bool(body) and body.isascii() and not body.encode("ascii").translate(None, TOKEN68_ALPHABET)
