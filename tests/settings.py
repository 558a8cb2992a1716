"""The project's settings for the test run: those of ``config/settings.py``, with a secret made for this run.

Production refuses to start without ``DJANGO_SECRET_KEY``; the tests need one
but must not commit one.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))

from config.settings import *  # noqa: F403
