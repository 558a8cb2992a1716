"""The DRF edge: a refusal as the DRF exception answering it, and the exception handler that words it.

``Refused`` carries what DRF's own exception handler reads: the status, the
description, ``auth_header`` (``WWW-Authenticate``) and ``wait``
(``Retry-After``); so the stock handler already answers with the right
status and headers, a ``{"detail": ...}`` body. Set as
``REST_FRAMEWORK["EXCEPTION_HANDLER"]``, ``exception_handler`` answers
refusals with ``{"code", "description"}`` and logs each once, and gives every
other DRF error carrying one message DRF's code and message in that shape.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from authn import runtime
from authn.errors import AuthnError, MalformedAuthorization, MissingCredentials, Unavailable


class Refused(exceptions.APIException):
    """An ``AuthnError`` as DRF answers it: its status, description, code, challenge and ``Retry-After``."""

    def __init__(self, error: AuthnError) -> None:
        super().__init__(error.description, error.code)
        self.status_code = error.status
        self.error = error
        self.auth_header = error.challenge
        self.wait = error.retry_after if isinstance(error, Unavailable) else None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views imports the authentication classes, which import this module.
    from rest_framework.views import exception_handler as drf_exception_handler  # noqa: PLC0415

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    error = refusal(exc, request)
    if error is not None:
        response.data = error.body
        # DRF set the challenge and Retry-After (from Refused); without a request there is nothing to log.
        return runtime.answer_refusal(error, request._request, response) if request is not None else response
    detail = response.data.get("detail") if isinstance(response.data, dict) and len(response.data) == 1 else None
    if isinstance(detail, exceptions.ErrorDetail):
        response.data = {"code": detail.code, "description": str(detail)}
    return response


def refusal(exc: Exception, request: Request | None) -> AuthnError | None:
    """The refusal behind ``exc``: ours, or DRF's ``NotAuthenticated`` when no authenticator took the request."""
    if isinstance(exc, Refused):
        return exc.error
    if type(exc) is exceptions.NotAuthenticated:
        has_header = request is not None and "HTTP_AUTHORIZATION" in request.META
        error = MalformedAuthorization() if has_header else MissingCredentials()
        error.challenge = getattr(exc, "auth_header", None)  # the one DRF asked the authentication classes for
        return error
    return None
