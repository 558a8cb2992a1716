"""The project's settings for test servers that the tests wait on across processes.

Run a server with ``DJANGO_SETTINGS_MODULE=tests.fast_keys_settings`` from the repository root: the same
policy, with a 1 s cooldown and a 1 + 1 s fetch deadline instead of 5 s and 2 + 3 s; with
``AUTHN_TEST_CLOCK_FILE`` set, its time is the test's ``SharedClock`` (tests/support/clock.py).
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.clock.SharedClockConfig"]  # noqa: F405

AUTH0_JWKS_COOLDOWN_SECONDS = 1
AUTH0_JWKS_CONNECT_TIMEOUT = 1.0
AUTH0_JWKS_READ_TIMEOUT = 1.0
