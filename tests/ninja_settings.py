"""The example's settings serving tests/ninja_urls.py, for the uvicorn tests/test_ninja.py starts.

Run a server with ``DJANGO_SETTINGS_MODULE=tests.ninja_settings`` from the repository root; key fetches
last as long as the test holds the tenant (tests/patient_keys_settings.py).
"""

from tests.patient_keys_settings import *  # noqa: F403

ROOT_URLCONF = "tests.ninja_urls"
