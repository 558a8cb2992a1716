"""The project's settings with a key policy shortened for tests that wait on it across processes.

Run a server with ``DJANGO_SETTINGS_MODULE=tests.fast_keys_settings`` from the repository root: the
same policy, with a 1 s cooldown and a 1 + 1 s fetch deadline instead of 5 s and 2 + 3 s.
"""

from config.settings import *  # noqa: F403

AUTH0_JWKS_COOLDOWN_SECONDS = 1
AUTH0_JWKS_CONNECT_TIMEOUT = 1.0
AUTH0_JWKS_READ_TIMEOUT = 1.0
