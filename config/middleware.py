"""Middleware of the example project as a whole, outside the API and the token layer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse

from authn.middleware import ResponseMiddleware


class HeadWithoutBody(ResponseMiddleware):
    """HEAD answers GET's status and headers, ``Content-Length`` included, and no body (RFC 9110 §9.3.2).

    Django renders HEAD like GET; the server would drop the body, and gunicorn warns each time it does.
    First in ``MIDDLEWARE``, so it sees the response every other middleware has finished.
    """

    def after(self, request: HttpRequest, response: HttpResponseBase, state: Any) -> HttpResponseBase:
        if request.method == "HEAD":
            if isinstance(response, StreamingHttpResponse):
                response.streaming_content = []
            elif isinstance(response, HttpResponse):
                response.content = b""
        return response
