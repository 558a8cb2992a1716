"""System checks of the example project, naming the environment variables its settings come from.

``authn`` names Django settings (``SECRET_KEY``); this project's users set ``DJANGO_SECRET_KEY``.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register

from authn.checks import check_secret_key


@register(Tags.security, deploy=True)
def check_secret_key_from_environment(**kwargs: Any) -> list[CheckMessage]:
    """authn's check (silenced in settings), its message naming the variable this project reads."""
    if not check_secret_key(**kwargs):
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
