"""The project's settings for the test run: those of ``config/settings.py``, with a secret made for this run.

Production refuses to start without ``DJANGO_SECRET_KEY``; the tests need one
but must not commit one.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))

from config.settings import *  # noqa: F403

# WhiteNoise scans every app's static files when its middleware starts, and a test client starts the
# middleware anew (about 0.1 s each); looked up on request instead, as in development.
WHITENOISE_AUTOREFRESH = True

# Every refusal logged: tests assert single log lines; the limiter's own tests turn it back on.
AUTH0_REFUSAL_LOG_RATE = 0
