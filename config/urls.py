from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from config.openapi import ApiDocsView, ApiSchemaView

# The API first: every pattern tried before it costs each API request ~2 us.
urlpatterns = [
    path("api/", include("messages_api.urls")),
    # OpenAPI schema and Swagger UI; API_DOCS_ENABLED=false turns both into 404s.
    path("api/schema/", ApiSchemaView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
]

# Outside DRF views too, errors are JSON in the API's shape, never an HTML page.
handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
