"""The DRF boundary: any ``AuthnError`` becomes the DRF exception of its status, and its challenge.

The exceptions carry what DRF's own exception handler reads: ``auth_header``
(401s get theirs from ``Auth0JWTAuthentication.authenticate_header``, as DRF
asks the authenticator) and ``wait`` (``Retry-After``). So the stock handler
already answers with the right status and headers; ``handlers.py`` only
reshapes the body.
"""

from __future__ import annotations

import functools

from rest_framework import exceptions, status

from authn import trust
from authn.confirmation import BoundTokenAsBearer
from authn.errors import AuthnError, InsufficientScope, Unavailable


class Refused:
    """Mixin: the refusal a DRF exception answers, and the two attributes DRF's handler reads."""

    error: AuthnError
    auth_header: str | None = None  # WWW-Authenticate
    wait: int | None = None  # Retry-After


class Unauthorized(Refused, exceptions.AuthenticationFailed):
    """401: DRF sets the challenge from ``authenticate_header()``."""


class Forbidden(Refused, exceptions.PermissionDenied):
    pass


class ServiceUnavailable(Refused, exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


def api_exception(error: AuthnError) -> exceptions.APIException:
    """The DRF exception answering ``error``."""
    exception: Unauthorized | Forbidden | ServiceUnavailable
    if error.status == 401:
        exception = Unauthorized(error.description, error.code)
    elif error.status == 403:
        exception = Forbidden(error.description, error.code)
        exception.auth_header = challenge(error)
    else:
        exception = ServiceUnavailable(error.description, error.code)
    exception.error = error
    if isinstance(error, Unavailable):
        exception.wait = error.retry_after
    return exception


def challenge(error: AuthnError) -> str | None:
    """The ``WWW-Authenticate`` value for ``error``, in the scheme the request used (RFC 6750 §3, RFC 9449 §7.1)."""
    if error.challenge_error is None:
        return None
    scope = " ".join(error.required_scopes) if isinstance(error, InsufficientScope) else ""
    if error.scheme == "dpop":
        return dpop_challenge(error.challenge_error, scope)
    if isinstance(error, BoundTokenAsBearer):  # the scheme it needs, offered beside the one it came with
        return f"{bearer_challenge(error.challenge_error)}, {dpop_challenge()}"
    return bearer_challenge(error.challenge_error, scope)


def credentials_challenge() -> str:
    """What a request without credentials is told: the schemes this server accepts."""
    mode = trust.request_policy().dpop_mode
    if mode == "required":
        return dpop_challenge()
    if mode == "allowed":
        return f"{bearer_challenge()}, {dpop_challenge()}"
    return bearer_challenge()


def bearer_challenge(error: str = "", scope: str = "") -> str:
    return _challenge("Bearer", (("realm", trust.request_policy().realm), ("error", error), ("scope", scope)))


def dpop_challenge(error: str = "", scope: str = "") -> str:
    return _challenge("DPoP", (("error", error), ("scope", scope), ("algs", trust.request_policy().dpop_algorithms)))


@functools.lru_cache(maxsize=256)
def _challenge(scheme: str, params: tuple[tuple[str, str], ...]) -> str:
    """``<scheme> name="value", ...`` of the non-empty values (a handful of distinct ones: kept)."""
    return f"{scheme} " + ", ".join(f'{name}="{_quote(value)}"' for name, value in params if value)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
