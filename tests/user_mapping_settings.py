"""The project's settings with ``Auth0UserAuthentication`` as the API's authentication (tests/test_users.py).

Run a server with ``DJANGO_SETTINGS_MODULE=tests.user_mapping_settings`` from the repository root.
"""

from config.settings import *  # noqa: F403
from config.settings import REST_FRAMEWORK

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": ["authn.authentication.Auth0UserAuthentication"],
}

# The burst of first requests is the point, not the cold key cache they meet: every thread (the server
# runs 8 a worker) may wait on its fetch.
AUTH0_JWKS_MAX_WAITING = 8
