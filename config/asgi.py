"""ASGI entry point, e.g. ``uvicorn config.asgi:application``; the API itself is synchronous."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()

from authn.startup import ready_to_serve  # noqa: E402 - needs the apps loaded above

ready_to_serve(every_deploy_check=True)  # refuses to serve when a system check reports an error
