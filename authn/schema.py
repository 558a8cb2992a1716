"""OpenAPI (drf-spectacular) descriptions of our bearer authentication and its errors.

Imported from ``AuthnConfig.ready()``: defining the extension registers it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers

from authn.exceptions import InsufficientScope, InvalidRequest, InvalidToken, SigningKeysUnavailable
from authn.handlers import MISSING_HEADER_CODE, MISSING_HEADER_DESCRIPTION
from authn.tokens import ExpiredToken, InvalidClaims

SECURITY_SCHEME = "auth0"


class Auth0JWTScheme(OpenApiAuthenticationExtension):
    """``Auth0JWTAuthentication`` is HTTP bearer authentication with an Auth0 JWT access token."""

    target_class = "authn.authentication.Auth0JWTAuthentication"
    name = SECURITY_SCHEME

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            **build_bearer_security_scheme_object("HTTP_AUTHORIZATION", "Bearer", bearer_format="JWT"),
            "description": (
                "An Auth0 access token (RS256 JWT) for this API's audience, sent as "
                "`Authorization: Bearer <token>`. Locally, with the development issuer: "
                "`python manage.py mint_token --scope read:messages` prints one."
            ),
        }


class ErrorSerializer(serializers.Serializer):
    """The body of every error response: a machine-readable code and a human-readable description."""

    code = serializers.CharField(help_text="Machine-readable: `token_expired`, `insufficient_scope`...")
    description = serializers.CharField(help_text="Human-readable; never contains the token.")


def _example(name: str, code: str, description: Any) -> OpenApiExample:
    return OpenApiExample(name, value={"code": code, "description": str(description)}, response_only=True)


def _error(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description, examples=list(examples))


UNAUTHORIZED = _error(
    "No valid access token: the header is missing or malformed, or the token is invalid, expired, "
    "or for another audience or issuer.",
    _example("Authorization header missing", MISSING_HEADER_CODE, MISSING_HEADER_DESCRIPTION),
    _example("Not a Bearer header", InvalidRequest.default_code, InvalidRequest.default_detail),
    _example("Invalid token", InvalidToken.default_code, InvalidToken.default_detail),
    _example("Token expired", ExpiredToken.code, ExpiredToken.description),
    _example("Wrong audience or issuer", InvalidClaims.code, InvalidClaims.description),
)
FORBIDDEN = _error(
    "The token is valid but does not grant the required scope.",
    _example("Insufficient scope", InsufficientScope.default_code, InsufficientScope.default_detail),
)
KEYS_UNAVAILABLE = _error(
    "The tenant's signing keys cannot be fetched and none are cached for the token's key id; retry later.",
    _example("Signing keys unavailable", SigningKeysUnavailable.default_code, SigningKeysUnavailable.default_detail),
)
NOT_ACCEPTABLE = _error(
    "The Accept header asks for neither JSON nor HTML.",
    _example("Not acceptable", exceptions.NotAcceptable.default_code, exceptions.NotAcceptable.default_detail),
)

CHALLENGE_HEADER = OpenApiParameter(
    "WWW-Authenticate",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The RFC 6750 challenge: `Bearer realm="api"`, with `error="..."` saying why a token was refused.',
    response=[401, 403],
)
RETRY_AFTER_HEADER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    description="Seconds to wait before retrying.",
    response=[503],
)

# What every operation behind the bearer authentication may answer besides its own.
TOKEN_HEADERS = [CHALLENGE_HEADER, RETRY_AFTER_HEADER]
TOKEN_ERRORS = {401: UNAUTHORIZED, 406: NOT_ACCEPTABLE, 503: KEYS_UNAVAILABLE}
