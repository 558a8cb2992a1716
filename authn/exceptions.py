"""The DRF boundary: API exceptions and their RFC 6750 challenges.

Internal errors (``tokens.TokenError``, ``jwks.KeySetUnavailable``) are
translated into these once, in ``authentication.py``; ``handlers.py`` renders
them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rest_framework import exceptions, status

from authn.conf import auth0_settings


class BearerError:
    """Mixin: the RFC 6750 ``error`` attribute this refusal puts in its challenge."""

    bearer_error: str
    log_context: Mapping[str, Any] = {}

    def challenge(self) -> str:
        return challenge(self.bearer_error)


class InvalidRequest(BearerError, exceptions.AuthenticationFailed):
    default_code = "invalid_header"
    default_detail = "Authorization header must be Bearer token."
    bearer_error = "invalid_request"


class InvalidToken(BearerError, exceptions.AuthenticationFailed):
    default_code = "invalid_header"
    default_detail = "Unable to parse authentication token."
    bearer_error = "invalid_token"

    def __init__(self, detail: str, code: str, log_context: Mapping[str, Any]) -> None:
        super().__init__(detail, code)
        self.log_context = log_context


class InsufficientScope(BearerError, exceptions.PermissionDenied):
    default_code = "insufficient_scope"
    default_detail = "You don't have access to this resource."
    bearer_error = "insufficient_scope"

    def __init__(self, required_scopes: Sequence[str], log_context: Mapping[str, Any]) -> None:
        super().__init__()
        self.required_scopes = tuple(required_scopes)
        self.log_context = log_context

    def challenge(self) -> str:
        return challenge(self.bearer_error, scope=" ".join(self.required_scopes))


class SigningKeysUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "jwks_unavailable"
    default_detail = "Unable to fetch the signing keys to verify the token; try again later."

    def __init__(self, retry_after: int, log_context: Mapping[str, Any]) -> None:
        super().__init__()
        self.wait = retry_after  # DRF's handler turns this into Retry-After
        self.log_context = log_context


def challenge(error: str | None = None, **params: str) -> str:
    """A ``WWW-Authenticate`` value for the Bearer scheme (RFC 6750 §3)."""
    attributes = {"realm": auth0_settings.realm, "error": error, **params}
    return "Bearer " + ", ".join(f'{name}="{_quote(value)}"' for name, value in attributes.items() if value)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
