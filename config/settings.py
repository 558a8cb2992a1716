"""Django settings for the messages API, all from the environment (see README, Configuration)."""

from __future__ import annotations

import re
import secrets
import warnings
from pathlib import Path

from config.env import Environment

BASE_DIR = Path(__file__).resolve().parent.parent
env = Environment(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# `make run` serves with debug on unless DJANGO_DEBUG says otherwise: `manage.py
# mint_token`, run beside it with the same environment, mints for that server.
MAKE_RUN_DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Required when not debugging (check config.E001); while debugging, a random
# per-process key keeps secrets out of the repository.
SECRET_KEY = env.str("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
SECRET_KEY_IS_EPHEMERAL = not env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default="localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config",
    "authn",
    "messages_api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves static files (the admin's, Swagger UI's) from the app server, debug or not.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "config.middleware.SiteSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.middleware.SiteAuthenticationMiddleware",
    "config.middleware.SiteMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise finds static files where the apps keep them: a fresh clone serves
# them under gunicorn without `collectstatic`.
WHITENOISE_USE_FINDERS = True
# ...so a missing STATIC_ROOT is normal, not worth WhiteNoise's warning (evansd/whitenoise#215).
warnings.filterwarnings("ignore", message=f"No directory at: {re.escape(str(STATIC_ROOT))}", category=UserWarning)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

# -- the API ------------------------------------------------------------------

REST_FRAMEWORK = {
    # Bearer tokens only: an admin session is not a credential for the API.
    "DEFAULT_AUTHENTICATION_CLASSES": ["authn.authentication.Auth0JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "authn.handlers.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# -- OpenAPI schema at /api/schema/, Swagger UI at /api/docs/ ---------------------

# On by default, in production too; API_DOCS_ENABLED=false answers 404 there.
API_DOCS_ENABLED = env.bool("API_DOCS_ENABLED", default=True)
SPECTACULAR_SETTINGS = {
    "TITLE": "Messages API",
    "DESCRIPTION": (
        "The three endpoints of the Auth0 quickstart, protected by Auth0 RS256 access tokens. "
        "Click **Authorize** and paste an access token (locally: `python manage.py mint_token --scope "
        "read:messages`). Errors are JSON `{code, description}`; refusals carry an RFC 6750 "
        "`WWW-Authenticate` challenge. Each path also answers with a trailing slash, and to HEAD; "
        "any other method gets 405 `method_not_allowed`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SORT_OPERATIONS": False,  # in the order of the URLconf: public, private, private-scoped
    "PREPROCESSING_HOOKS": ["config.openapi.document_paths_without_slash"],
    # Swagger UI's JS and CSS come from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"displayRequestDuration": True},
}

# -- Auth0 (contract §5; every knob documented in the README) -----------------

AUTH0_DOMAIN = env.str("AUTH0_DOMAIN")
AUTH0_AUDIENCE = env.list("AUTH0_AUDIENCE")
AUTH0_ISSUER = env.str("AUTH0_ISSUER")
AUTH0_JWKS_URL = env.str("AUTH0_JWKS_URL")
AUTH0_ALGORITHMS = ["RS256"]
AUTH0_LEEWAY_SECONDS = 10
AUTH0_SCOPE_CLAIM = "scope"
AUTH0_PERMISSIONS_CLAIM = "permissions"
AUTH0_MAX_TOKEN_LENGTH = 8192
AUTH0_TOKEN_CACHE_SIZE = 4096
AUTH0_REALM = "api"
AUTH0_JWKS_CACHE_SECONDS = 600
AUTH0_JWKS_COOLDOWN_SECONDS = 5
AUTH0_JWKS_STALE_SECONDS = 3600
AUTH0_JWKS_CONNECT_TIMEOUT = 2.0
AUTH0_JWKS_READ_TIMEOUT = 3.0
AUTH0_JWKS_MAX_BYTES = 64 * 1024
AUTH0_JWKS_MAX_KEYS = 50
AUTH0_DEV_KEY_FILE = BASE_DIR / ".dev-issuer" / "signing-key.pem"

# -- CORS: listed single-page apps may call the API with an Authorization header

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default="http://localhost:3000")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["WWW-Authenticate", "Retry-After"]

# -- logging: one line per event, to stderr -----------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"client_error_without_traceback": {"()": "config.log.ClientErrorWithoutTraceback"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_error_without_traceback"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "authn": {"level": "INFO"},  # start-up, key fetches, refusals: through the root's handler
        "django": {"level": "INFO", "handlers": []},  # through the root's handler too, once
    },
}
