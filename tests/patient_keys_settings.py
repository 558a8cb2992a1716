"""The project's settings for a test server whose key fetches last as long as the test holds the tenant.

Run a server with ``DJANGO_SETTINGS_MODULE=tests.patient_keys_settings`` from the repository root: the
same policy, with a 30 s read timeout instead of 3 s, so a fetch from a tenant the test has hung is
still in flight when the test looks, however loaded the machine.
"""

from config.settings import *  # noqa: F403

AUTH0_JWKS_READ_TIMEOUT = 30.0
