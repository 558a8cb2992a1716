"""``manage.py runserver`` that refuses to start when a system check reports an error.

Django's own runserver shows check errors and keeps watching for changes; this
one exits non-zero before serving, and runs the deploy checks too when DEBUG
is off. It takes effect when ``authn`` is listed before
``django.contrib.staticfiles`` in ``INSTALLED_APPS`` (and keeps serving static
files as staticfiles' runserver does).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps

from authn.startup import check_or_exit

if apps.is_installed("django.contrib.staticfiles"):
    from django.contrib.staticfiles.management.commands.runserver import Command as BaseRunserver
else:  # the core runserver, which this one replaces wherever authn is listed
    from django.core.management.commands.runserver import Command as BaseRunserver  # type: ignore[assignment]


class Command(BaseRunserver):
    def handle(self, *args: Any, **options: Any) -> None:
        check_or_exit()  # in the reloader's parent and child alike: an error ends both
        super().handle(*args, **options)
