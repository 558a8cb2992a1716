from __future__ import annotations

from django.apps import AppConfig
from django.core.signals import setting_changed


class AuthnConfig(AppConfig):
    name = "authn"
    verbose_name = "Auth0 access-token authentication"

    def ready(self) -> None:
        # Importing registers the system checks and the OpenAPI authentication extension.
        from authn import checks, schema, trust  # noqa: F401

        setting_changed.connect(trust.reset, dispatch_uid="authn.trust.reset")
