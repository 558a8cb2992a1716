"""The OpenAPI schema and Swagger UI views, and how our routes are documented."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

Endpoint = tuple[str, str, str, Any]


class ApiDocsMixin:
    """Public (no token needed, none checked), and 404 while ``API_DOCS_ENABLED`` is off."""

    authentication_classes: Sequence[type[BaseAuthentication]] = ()
    permission_classes: Sequence[_PermissionClass] = (AllowAny,)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not settings.API_DOCS_ENABLED:
            # The 404 is JSON like every other, not a schema or a Swagger UI page.
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
            raise NotFound
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class ApiSchemaView(ApiDocsMixin, SpectacularAPIView):
    """The OpenAPI 3 schema: YAML, or JSON with ``?format=json``."""


class ApiDocsView(ApiDocsMixin, SpectacularSwaggerView):
    """Swagger UI, its JS and CSS served from drf-spectacular-sidecar's static files."""


def document_paths_without_slash(endpoints: list[Endpoint], **_: Any) -> list[Endpoint]:
    """A route ``^name/?$`` answers both forms: document it as ``/name``, the form the contract names.

    drf-spectacular's ``PREPROCESSING_HOOKS`` entry.
    """
    return [
        (path.removesuffix("/") if regex.endswith("/?$") else path, regex, method, callback)
        for path, regex, method, callback in endpoints
    ]
