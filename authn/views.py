"""Liveness, readiness and metrics for load balancers and scrapers: JSON (or Prometheus text), never cached.

Plain Django views, outside the API: no authentication, not in the OpenAPI schema.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from authn import metrics, runtime, status

SAFE_METHODS = ("GET", "HEAD")


def safe_methods_only(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """GET and HEAD only; any other method gets a JSON 405, like every other error of this API."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method in SAFE_METHODS:
            return view(request)
        body = {"code": "method_not_allowed", "description": "Method not allowed: use GET or HEAD."}
        return JsonResponse(body, status=405, headers={"Allow": ", ".join(SAFE_METHODS)})

    return wrapper


@never_cache
@safe_methods_only
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process can answer requests."""
    return JsonResponse({"status": "ok"})


@never_cache
@safe_methods_only
def readyz(request: HttpRequest) -> JsonResponse:
    """200 only when every trusted issuer has usable signing keys; 503 otherwise, naming each one's state
    unless the settings say not to."""
    current = runtime.current()
    states = status.readiness(current)
    ready = states is not None and all(state == "ready" for state in states.values())
    body: dict[str, object] = {"status": "ready" if ready else "unavailable"}
    if current.settings.readyz_issuers:
        body["issuers"] = states or {}
        if states is None:
            body["reason"] = "no issuer is trusted (no domain is set and DEBUG is off)"
    return JsonResponse(body, status=200 if ready else 503)


@never_cache
@safe_methods_only
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """The counters of ``authn.metrics`` in the Prometheus text format; expose it to the scraper only."""
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
