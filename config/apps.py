from __future__ import annotations

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project itself, as an app: it owns the checks of the project-wide settings."""

    name = "config"
    verbose_name = "Project configuration"

    def ready(self) -> None:
        from config import checks  # noqa: F401 - importing registers the system checks
