"""Middleware for what an authentication class cannot do: add headers to the response, time it.

- ``DPoPNonceMiddleware``: with DPoP nonces on, every answer to a
  DPoP request carries a fresh ``DPoP-Nonce`` (RFC 9449 §8), refusals and
  successes alike.
- ``RequestMetricsMiddleware``: request latency by route name and method.

Both run in a sync stack and an async one alike (no thread hop under ASGI).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from authn import metrics, nonces, runtime
from authn.header import scheme_of

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ResponseMiddleware:
    """A middleware that looks at each request before the view and amends its response after, sync or async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self._async:
            return self._async_call(request)
        state = self.before(request)
        return self.after(request, self.get_response(request), state)

    async def _async_call(self, request: HttpRequest) -> HttpResponseBase:
        state = self.before(request)
        return self.after(request, await self.get_response(request), state)

    def before(self, request: HttpRequest) -> Any:
        """Called before the view; what it returns is handed to ``after``."""
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase, state: Any) -> HttpResponseBase:
        raise NotImplementedError


class DPoPNonceMiddleware(ResponseMiddleware):
    def after(self, request: HttpRequest, response: HttpResponseBase, state: Any) -> HttpResponseBase:
        current = runtime.current()
        if current.settings.dpop_nonce and _uses_dpop(request):
            response["DPoP-Nonce"] = nonces.issue(current.clock.wall())
        return response


def _uses_dpop(request: HttpRequest) -> bool:
    return "HTTP_DPOP" in request.META or scheme_of(request.META.get("HTTP_AUTHORIZATION", "")) == "dpop"


class RequestMetricsMiddleware(ResponseMiddleware):
    def before(self, request: HttpRequest) -> float:
        return time.perf_counter()

    def after(self, request: HttpRequest, response: HttpResponseBase, state: Any) -> HttpResponseBase:
        match = request.resolver_match
        endpoint = (match.view_name or match.route) if match is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"  # labels never take client input
        metrics.REQUEST_LATENCY.labels(endpoint, method).observe(time.perf_counter() - state)
        return response
