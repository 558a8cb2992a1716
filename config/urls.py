from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from authn.views import prometheus_metrics
from messages_api.openapi import ApiDocsView, ApiSchemaView

# The API first: every pattern tried before it costs each API request ~2 us.
urlpatterns = [
    path("api/", include("messages_api.urls")),
    # OpenAPI schema and Swagger UI; API_DOCS_ENABLED=false turns both into 404s.
    path("api/schema/", ApiSchemaView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="swagger-ui"),
    # Liveness and readiness for load balancers; /metrics with METRICS_ENABLED (expose it to the scraper only).
    path("", include("authn.urls")),
    path("admin/", admin.site.urls),
]
if settings.METRICS_ENABLED:
    urlpatterns.append(path("metrics", prometheus_metrics, name="metrics"))

# Outside DRF views too, errors are JSON in the API's shape, never an HTML page.
handler400 = "messages_api.errors.bad_request"
handler403 = "messages_api.errors.permission_denied"
handler404 = "messages_api.errors.not_found"
handler500 = "messages_api.errors.server_error"
