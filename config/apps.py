from __future__ import annotations

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The example project itself: its system checks."""

    name = "config"
    verbose_name = "Messages API project"

    def ready(self) -> None:
        from config import checks  # noqa: F401 - importing registers the checks
