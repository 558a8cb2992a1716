"""The DRF exception handler: refusals as ``{"code", "description"}`` JSON, each logged once.

Set as ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``. It starts from DRF's own
handler (status, ``WWW-Authenticate``, ``Retry-After`` are already right) and
reshapes the body: a refusal gets its code and description, any other error
carrying one message (404, 405, 406, 415, throttled...) gets DRF's code and
message, and an error with several (a serializer's field errors) stays
exactly as DRF renders it.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from authn import logs
from authn.authentication import request_scheme
from authn.errors import AuthnError, InvalidRequest, MissingCredentials


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    error = refusal(exc, request)
    if error is not None:
        response.data = {"code": error.code, "description": error.description}
        if request is not None:
            authorization = request.META.get("HTTP_AUTHORIZATION")
            fields = {"path": request.path, "scheme": request_scheme(authorization) if authorization else None}
            logs.log_refusal(response.status_code, error.code, fields, error.log_fields)
            # Django's request logger would log this response again; once is enough.
            response._has_been_logged = True  # type: ignore[attr-defined] # the flag django.utils.log.log_response checks
        return response
    detail = response.data.get("detail") if isinstance(response.data, dict) and len(response.data) == 1 else None
    if isinstance(detail, exceptions.ErrorDetail):
        response.data = {"code": detail.code, "description": str(detail)}
    return response


def refusal(exc: Exception, request: Any) -> AuthnError | None:
    """The authn refusal behind ``exc``: ours, or DRF's ``NotAuthenticated`` when no authenticator took the request."""
    error = getattr(exc, "error", None)
    if isinstance(error, AuthnError):
        return error
    if type(exc) is exceptions.NotAuthenticated:
        has_header = request is not None and "HTTP_AUTHORIZATION" in request.META
        return InvalidRequest() if has_header else MissingCredentials()
    return None
