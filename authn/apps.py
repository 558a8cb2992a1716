from __future__ import annotations

from importlib.util import find_spec

from django.apps import AppConfig
from django.core.signals import setting_changed


class AuthnConfig(AppConfig):
    name = "authn"
    verbose_name = "Auth0 access-token authentication"
    # The app's own, so that a project's DEFAULT_AUTO_FIELD asks for no migration of authn's.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from authn import checks, conf  # noqa: F401 - importing registers the system checks

        if find_spec("drf_spectacular") is not None:
            from authn import schema  # noqa: F401 - defining the extension registers it with drf-spectacular

        setting_changed.connect(conf.reset, dispatch_uid="authn.conf.reset")
