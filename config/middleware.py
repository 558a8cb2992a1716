"""Middleware of the example project as a whole, outside the API and the token layer."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse


class HeadWithoutBody:
    """HEAD answers GET's status and headers, ``Content-Length`` included, and no body (RFC 9110 §9.3.2).

    Django renders HEAD like GET; the server would drop the body, and gunicorn warns each time it does.
    First in ``MIDDLEWARE``, so it sees the response every other middleware has finished.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.method == "HEAD":
            if isinstance(response, StreamingHttpResponse):
                response.streaming_content = []
            elif isinstance(response, HttpResponse):
                response.content = b""
        return response
