from __future__ import annotations

from django.apps import AppConfig


class MessagesApiConfig(AppConfig):
    name = "messages_api"
    verbose_name = "Messages API"
