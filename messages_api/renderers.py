"""The browsable API of the messages API: DRF's, pointing a browser that sent no token at the API docs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.urls import reverse
from rest_framework.renderers import BrowsableAPIRenderer


class MessagesBrowsableAPIRenderer(BrowsableAPIRenderer):
    """A 401 page says how to get a token and try again: Swagger UI's Authorize (when the docs are served)."""

    template = "messages_api/api.html"

    def get_context(
        self, data: Any, accepted_media_type: str | None, renderer_context: Mapping[str, Any]
    ) -> dict[str, Any]:
        context = super().get_context(data, accepted_media_type, renderer_context)
        context["api_docs_url"] = reverse("swagger-ui") if settings.API_DOCS_ENABLED else None
        return context
