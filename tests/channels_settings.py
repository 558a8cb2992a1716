"""The test settings, served as an ASGI application with WebSockets (tests/test_channels.py).

Run a server with ``DJANGO_SETTINGS_MODULE=tests.channels_settings`` from the repository root:
``uvicorn tests.channels_asgi:application`` or ``daphne tests.channels_asgi:application``.
"""

from tests.settings import *  # noqa: F403

ASGI_APPLICATION = "tests.channels_asgi.application"  # what Channels' runserver and live server test cases serve
