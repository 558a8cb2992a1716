"""Liveness, readiness and metrics for load balancers and scrapers: JSON (or Prometheus text), never cached.

Plain Django views, outside the API: no authentication, not in the OpenAPI schema.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from authn import metrics, trust


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process can answer requests."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 only when every trusted issuer has usable signing keys; 503 naming each one's state otherwise."""
    states = trust.readiness()
    if states is None:
        body = {"status": "unavailable", "reason": "no issuer is trusted (AUTH0_DOMAIN is unset)", "issuers": {}}
        return JsonResponse(body, status=503)
    ready = all(state == "ready" for state in states.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "issuers": states}, status=200 if ready else 503
    )


@never_cache
@require_safe
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """The counters of ``authn.metrics`` in the Prometheus text format; expose it to the scraper only."""
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
