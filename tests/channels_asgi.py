"""HTTP to Django, WebSockets through ``Auth0AuthMiddleware``: the asgi.py a Channels project writes.

``/ws/subject`` accepts a handshake with a valid access token and sends the token's subject back.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels_settings")
django_application = get_asgi_application()  # first: it sets Django up before anything imports a model

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from authn.channels import Auth0AuthMiddleware  # noqa: E402


class SubjectConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send(text_data=self.scope["auth"].subject)


application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": Auth0AuthMiddleware(URLRouter([path("ws/subject", SubjectConsumer.as_asgi())])),
    }
)
