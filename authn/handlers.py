"""The DRF exception handler: every error as ``{"code", "description"}`` JSON.

Set as ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``. It adds the RFC 6750
challenge of our refusals and logs each refusal once, without the token.
"""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from authn.exceptions import BearerError

logger = logging.getLogger("authn")

MISSING_HEADER_CODE = "authorization_header_missing"
MISSING_HEADER_DESCRIPTION = "Authorization header is expected."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with our body shape, challenges and one log line per refusal."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code, description = _code_and_description(exc, response.data)
    response.data = {"code": code, "description": description}
    if isinstance(exc, BearerError):
        response["WWW-Authenticate"] = exc.challenge()
    request = context.get("request")
    if request is not None:
        # Errors are JSON whatever the client accepts: never an HTML page.
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        if response.status_code in (401, 403, 503):
            _log_refusal(request, exc, code, response)
    return response


def _code_and_description(exc: Exception, data: Any) -> tuple[str, str]:
    if type(exc) is exceptions.NotAuthenticated:
        # DRF's own NotAuthenticated means no authenticator found credentials at all.
        return MISSING_HEADER_CODE, MISSING_HEADER_DESCRIPTION
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, exceptions.ErrorDetail):
        return detail.code, str(detail)
    # Validation errors carry many messages; the API takes no input, so the summary will do.
    return exceptions.ValidationError.default_code, str(exceptions.ValidationError.default_detail)


def _log_refusal(request: Any, exc: Exception, code: str, response: Response) -> None:
    fields = {"path": request.path, **getattr(exc, "log_context", {})}
    logger.log(
        logging.WARNING if response.status_code >= 500 else logging.INFO,
        "refused status=%d code=%s %s",
        response.status_code,
        code,
        " ".join(f"{name}={_loggable(value)}" for name, value in fields.items() if value is not None),
    )
    # Django's request logger would log this response again; once is enough.
    response._has_been_logged = True  # the flag django.utils.log.log_response checks


def _loggable(value: Any) -> str:
    """A value from the request, quoted and cut short so it cannot forge log lines."""
    text = value if isinstance(value, str) else f"<{type(value).__name__}>"  # never repr() attacker JSON
    return repr(text[:100])
