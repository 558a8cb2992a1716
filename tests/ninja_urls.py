"""A django-ninja API protected by ``authn.ninja``: sync and async operations, one API with ``register(api)``
and one without. The URLconf of tests/test_ninja.py and of the uvicorn it starts (tests/ninja_settings.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI

from authn.ninja import Auth0Bearer, register
from messages_api.views import PUBLIC_MESSAGE


def granted(request: HttpRequest) -> dict[str, Any]:
    """What a protected operation answers: the claims of the token it was called with, and its scheme."""
    token = request.auth  # type: ignore[attr-defined]
    return {"claims": plain(token.claims), "scheme": token.scheme}


def plain(value: Any) -> Any:
    """A token's read-only claims (nested ones too) as the JSON types they came as."""
    if isinstance(value, Mapping):
        return {name: plain(member) for name, member in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def build(namespace: str) -> NinjaAPI:
    """An API whose ``/private`` and ``/private-scoped`` take a token, sync and (under ``/async``) async."""
    api = NinjaAPI(urls_namespace=namespace)
    anyone, readers = Auth0Bearer(), Auth0Bearer(scopes=["read:messages"])

    @api.get("/private", auth=anyone)
    def private(request: HttpRequest) -> dict[str, Any]:
        return granted(request)

    @api.get("/private-scoped", auth=readers)
    def private_scoped(request: HttpRequest) -> dict[str, Any]:
        return granted(request)

    @api.get("/async/private", auth=anyone)
    async def async_private(request: HttpRequest) -> dict[str, Any]:
        return granted(request)

    @api.get("/async/private-scoped", auth=readers)
    async def async_private_scoped(request: HttpRequest) -> dict[str, Any]:
        return granted(request)

    @api.get("/async/public")
    async def async_public(request: HttpRequest) -> dict[str, str]:
        return {"message": PUBLIC_MESSAGE}

    return api


api = build("ninja")
register(api)
unregistered = build("ninja-unregistered")  # refusals in ninja's own rendering: {"detail": ...}, no challenge

# Every operation of an API behind a token, declared once on the API.
whole = NinjaAPI(urls_namespace="ninja-whole", auth=Auth0Bearer())
register(whole)


@whole.get("/private")
def whole_private(request: HttpRequest) -> dict[str, Any]:
    return granted(request)


@whole.get("/async/private")
async def whole_async_private(request: HttpRequest) -> dict[str, Any]:
    return granted(request)


urlpatterns = [
    path("ninja/", api.urls),
    path("ninja-unregistered/", unregistered.urls),
    path("ninja-whole/", whole.urls),
]
