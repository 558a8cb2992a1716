"""Django settings for the messages API, all from the environment (see README, Configuration)."""

from __future__ import annotations

import secrets
from pathlib import Path

from config.env import Environment

BASE_DIR = Path(__file__).resolve().parent.parent
env = Environment(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
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
    "config",
    "authn",
    "messages_api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "authn": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
