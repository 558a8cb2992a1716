"""System checks of the example project, naming the environment variables its settings come from.

``authn`` names Django settings (``SECRET_KEY``); this project's users set ``DJANGO_SECRET_KEY``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=True)
def check_secret_key_from_environment(**_: Any) -> list[CheckMessage]:
    try:
        configured = bool(getattr(settings, "SECRET_KEY", ""))
    except ImproperlyConfigured:  # what Django raises for an empty one
        configured = False
    if configured:
        return []
    return [
        Error(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off: sessions, CSRF tokens and DPoP nonces "
            "cannot be signed.",
            hint="Set it to the same long random value on every worker and host: "
            "export DJANGO_SECRET_KEY=\"$(python -c 'import secrets; print(secrets.token_urlsafe(50))')\".",
            id="config.E001",
        )
    ]
