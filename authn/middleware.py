"""Middleware for what an authentication class cannot do: add headers to the response, time it.

- ``DPoPNonceMiddleware``: with DPoP nonces on, every answer to a
  DPoP request carries a fresh ``DPoP-Nonce`` (RFC 9449 §8), refusals and
  successes alike.
- ``RequestMetricsMiddleware``: request latency by route name and method.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from authn import metrics, nonces, runtime
from authn.header import scheme_of

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class DPoPNonceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        current = runtime.current()
        if current.settings.dpop_nonce and _uses_dpop(request):
            response["DPoP-Nonce"] = nonces.issue(current.clock.wall())
        return response


def _uses_dpop(request: HttpRequest) -> bool:
    return "HTTP_DPOP" in request.META or scheme_of(request.META.get("HTTP_AUTHORIZATION", "")) == "dpop"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        endpoint = (match.view_name or match.route) if match is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"  # labels never take client input
        metrics.REQUEST_LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
        return response
