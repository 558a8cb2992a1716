"""System checks of the project-wide settings that come from the environment."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security, deploy=True)
def check_secret_key(**_: Any) -> list[CheckMessage]:
    if settings.DEBUG or not getattr(settings, "SECRET_KEY_IS_EPHEMERAL", False):
        return []
    return [
        Error(
            "DJANGO_SECRET_KEY is not set and DEBUG is off.",
            hint='Set it to a long random value, e.g. python -c "import secrets; print(secrets.token_urlsafe(50))".',
            id="config.E001",
        )
    ]
