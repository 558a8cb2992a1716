"""The DRF boundary: any ``AuthnError`` becomes the DRF exception of its status, and its challenge.

The exceptions carry what DRF's own exception handler reads: ``auth_header``
(401s get theirs from ``Auth0JWTAuthentication.authenticate_header``, as DRF
asks the authenticator) and ``wait`` (``Retry-After``). So the stock handler
already answers with the right status and headers; ``handlers.py`` only
reshapes the body.
"""

from __future__ import annotations

from rest_framework import exceptions, status

from authn.conf import auth0_settings
from authn.errors import AuthnError, InsufficientScope, MissingCredentials, Unavailable


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
    if isinstance(error, MissingCredentials):
        return credentials_challenge()
    if error.challenge_error is None:
        return None
    params = {"error": error.challenge_error}
    if isinstance(error, InsufficientScope):
        params["scope"] = " ".join(error.required_scopes)
    return dpop_challenge(**params) if error.scheme == "dpop" else bearer_challenge(**params)


def credentials_challenge() -> str:
    """What a request without credentials is told: the schemes this server accepts."""
    mode = auth0_settings.dpop_mode
    if mode == "required":
        return dpop_challenge()
    if mode == "allowed":
        return f"{bearer_challenge()}, {dpop_challenge()}"
    return bearer_challenge()


def bearer_challenge(**params: str) -> str:
    return "Bearer " + _attributes({"realm": auth0_settings.realm, **params})


def dpop_challenge(**params: str) -> str:
    return "DPoP " + _attributes({**params, "algs": " ".join(auth0_settings.dpop_algorithms)})


def _attributes(params: dict[str, str]) -> str:
    return ", ".join(f'{name}="{_quote(value)}"' for name, value in params.items() if value)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
