"""The example's public and scoped messages as async views (``auth0_required`` on an ``async def`` view verifies
with ``authn.averify``), at the example's paths: what bench/run.py measures under uvicorn."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from authn.decorators import auth0_required
from messages_api.views import PUBLIC_MESSAGE, READ_MESSAGES, SCOPED_MESSAGE


async def public_message(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": PUBLIC_MESSAGE})


@auth0_required(scopes=[READ_MESSAGES])
async def private_scoped_message(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": SCOPED_MESSAGE})


urlpatterns = [
    path("api/public", public_message),
    path("api/private-scoped", private_scoped_message),
    path("", include("authn.urls")),  # /readyz, which bench/run.py asks until the worker has fetched the keys
]
