"""OpenAPI (drf-spectacular) descriptions of our authentication schemes and their errors.

Imported from ``AuthnConfig.ready()`` when drf-spectacular is installed:
defining the extension registers it. Nothing else in authn imports it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers

from authn import conf
from authn.defaults import DPoPMode
from authn.errors import (
    AuthnError,
    ExpiredToken,
    InsufficientScope,
    InvalidClaims,
    InvalidProof,
    KeysUnavailable,
    MalformedAuthorization,
    MalformedToken,
    MissingCredentials,
    NonceRequired,
    ReplayStoreUnavailable,
)

BEARER_SCHEME, DPOP_SCHEME = "auth0", "auth0DPoP"


class Auth0JWTScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Auth0 access tokens: HTTP bearer authentication, and DPoP-bound tokens (RFC 9449) unless disabled."""

    target_class = "authn.authentication.Auth0JWTAuthentication"
    match_subclasses = True

    @property
    def name(self) -> list[str]:  # type: ignore[override] # the schemes depend on the DPoP mode
        return self._schemes()

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{name: []} for name in self._schemes()]  # either one (OR)

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, str]]:
        definitions = {
            BEARER_SCHEME: {
                **build_bearer_security_scheme_object("HTTP_AUTHORIZATION", "Bearer", bearer_format="JWT"),
                "description": (
                    "An Auth0 access token (RS256 JWT) for this API's audience, sent as "
                    "`Authorization: Bearer <token>`. Locally, with the development issuer: "
                    "`python manage.py mint_token --scope read:messages` prints one."
                ),
            },
            DPOP_SCHEME: {
                "type": "http",
                "scheme": "DPoP",
                "description": (
                    "A DPoP-bound Auth0 access token (its `cnf.jkt` names the client's key), sent as "
                    "`Authorization: DPoP <token>` with a `DPoP` header holding a fresh proof signed by that key "
                    f"({', '.join(conf.get().dpop_algorithms)}). Locally: `python manage.py mint_token "
                    "--dpop-key` and `python manage.py dpop_proof --url URL --token TOKEN`."
                ),
            },
        }
        return [definitions[name] for name in self._schemes()]

    def _schemes(self) -> list[str]:
        schemes = {DPoPMode.REQUIRED: [DPOP_SCHEME], DPoPMode.DISABLED: [BEARER_SCHEME]}
        return schemes.get(conf.get().dpop, [BEARER_SCHEME, DPOP_SCHEME])


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The body of every error response: a machine-readable code and a human-readable description."""

    code = serializers.CharField(help_text="Machine-readable: `token_expired`, `insufficient_scope`...")
    description = serializers.CharField(help_text="Human-readable; never contains the token.")


def _example(name: str, code: str, description: Any) -> OpenApiExample:
    return OpenApiExample(name, value={"code": code, "description": str(description)}, response_only=True)


def _error(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description, examples=list(examples))


def _refusal(name: str, error: type[AuthnError]) -> OpenApiExample:
    return _example(name, error.code, error.description)


UNAUTHORIZED = _error(
    "No valid access token: the header is missing or malformed, the token is invalid, expired, "
    "or for another audience or issuer, or its DPoP proof is invalid or lacks our nonce.",
    _refusal("Authorization header missing", MissingCredentials),
    _refusal("Not a Bearer or DPoP header", MalformedAuthorization),
    _refusal("Invalid token", MalformedToken),
    _refusal("Token expired", ExpiredToken),
    _refusal("Wrong audience or issuer", InvalidClaims),
    _refusal("Invalid DPoP proof", InvalidProof),
    _refusal("DPoP nonce required", NonceRequired),
)
FORBIDDEN = _error(
    "The token is valid but does not grant the required scope.",
    _refusal("Insufficient scope", InsufficientScope),
)
KEYS_UNAVAILABLE = _error(
    "The issuer's signing keys cannot be fetched and none are cached for the token's key id, or the DPoP "
    "replay cache cannot be reached; retry later.",
    _refusal("Signing keys unavailable", KeysUnavailable),
    _refusal("Replay cache unavailable", ReplayStoreUnavailable),
)
NOT_ACCEPTABLE = _error(
    "The Accept header asks for neither JSON nor HTML.",
    _example("Not acceptable", exceptions.NotAcceptable.default_code, exceptions.NotAcceptable.default_detail),
)

CHALLENGE_HEADER = OpenApiParameter(
    "WWW-Authenticate",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The RFC 6750 challenge, `Bearer realm="api"`, with `error="..."` saying why a token was refused '
    '(for a DPoP request the RFC 9449 one, `DPoP error="...", algs="ES256"`).',
    response=[401, 403],
)
DPOP_NONCE_HEADER = OpenApiParameter(
    "DPoP-Nonce",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="When the server asks for DPoP nonces: the nonce the next DPoP proof must carry.",
    response=[200, 401],
)
RETRY_AFTER_HEADER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    description="Seconds to wait before retrying.",
    response=[503],
)

# What every operation behind the bearer authentication may answer besides its own.
TOKEN_HEADERS = [CHALLENGE_HEADER, DPOP_NONCE_HEADER, RETRY_AFTER_HEADER]
TOKEN_ERRORS = {401: UNAUTHORIZED, 406: NOT_ACCEPTABLE, 503: KEYS_UNAVAILABLE}
