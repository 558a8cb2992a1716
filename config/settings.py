"""Django settings for the messages API, all from the environment (see README, Configuration).

A ``.env`` file at the project root supplies what the process environment does
not. The finer ``AUTH0_*`` knobs keep authn's defaults (``authn/defaults.py``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # the process environment wins over the file

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Required when not debugging (check authn.E018: refusing to start without it); while debugging, a
# random per-process key keeps secrets out of the repository.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or (secrets.token_urlsafe(50) if DEBUG else "")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "authn",  # first: its runserver (which refuses to start misconfigured) wins over staticfiles'
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
    "messages_api",
    "config.apps.ProjectConfig",  # this project's own system checks
]
# config.E001 says what authn.E018 says (no secret key), naming the variable this project reads it from.
SILENCED_SYSTEM_CHECKS = ["authn.E018"]

METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)

MIDDLEWARE = [
    *(["authn.middleware.RequestMetricsMiddleware"] if METRICS_ENABLED else []),
    "config.middleware.HeadWithoutBody",
    "django.middleware.security.SecurityMiddleware",
    # Serves static files (the admin's, Swagger UI's) from the app server, debug or not.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "authn.middleware.DPoPNonceMiddleware",
    "messages_api.middleware.SiteSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "messages_api.middleware.SiteAuthenticationMiddleware",
    "messages_api.middleware.SiteMessageMiddleware",
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

# The admin's database: SQLite beside the code unless DATABASE_URL says otherwise (postgres://...).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"].update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)

# REDIS_URL: a cache every worker and host shares, so a DPoP proof accepted once is refused everywhere
# after (AUTH0_DPOP_REPLAY_CACHE below). Short socket timeouts: an unreachable Redis fails DPoP requests
# fast (503), never hangs them.
REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
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
# WhiteNoise finds static files where the apps keep them: a fresh clone serves them under gunicorn
# without `collectstatic`.
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- behind a TLS-terminating proxy (opt-in: unset, plain HTTP is answered as it comes) ----------

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# e.g. DJANGO_SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https when the proxy sets X-Forwarded-Proto
# (and overwrites any the client sent).
_proxy_ssl_header = env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if len(_proxy_ssl_header) == 2 else None
USE_X_FORWARDED_HOST = env.bool("DJANGO_USE_X_FORWARDED_HOST", default=False)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$", r"^metrics/?$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)

# -- the API ------------------------------------------------------------------

REST_FRAMEWORK = {
    # Access tokens only: an admin session is not a credential for the API.
    "DEFAULT_AUTHENTICATION_CLASSES": ["authn.authentication.Auth0JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "authn.handlers.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # JSON for API clients; DRF's browsable API for a browser (its 401 page links the API docs).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "messages_api.renderers.MessagesBrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# -- OpenAPI schema at /api/schema/, Swagger UI at /api/docs/ ---------------------

# On by default, in production too; API_DOCS_ENABLED=false answers 404 there.
API_DOCS_ENABLED = env.bool("API_DOCS_ENABLED", default=True)
SPECTACULAR_SETTINGS = {
    "TITLE": "Messages API",
    "DESCRIPTION": (
        "The three endpoints of the Auth0 quickstart, protected by Auth0 RS256 access tokens, bearer or "
        "DPoP-bound. Click **Authorize** and paste an access token (locally: `python manage.py mint_token "
        "--scope read:messages`). Errors are JSON `{code, description}`; refusals carry an RFC 6750 "
        "`WWW-Authenticate` challenge. Each path also answers with a trailing slash, and to HEAD; "
        "any other method gets 405 `method_not_allowed`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SORT_OPERATIONS": False,  # in the order of the URLconf: public, private, private-scoped
    "PREPROCESSING_HOOKS": ["messages_api.openapi.document_paths_without_slash"],
    # Swagger UI's JS and CSS come from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"displayRequestDuration": True},
}

# -- Auth0 (README, Configuration) -------------------------------------------------

AUTH0_DOMAIN = env.list("AUTH0_DOMAIN", default=[])  # several for custom domains: a,b
AUTH0_AUDIENCE = env.list("AUTH0_AUDIENCE", default=[])
AUTH0_ISSUER = env.list("AUTH0_ISSUER", default=[])  # each an exact iss, for the domain whose host it names
AUTH0_JWKS_URL = env.str("AUTH0_JWKS_URL", default="")
AUTH0_OIDC_DISCOVERY = env.bool("AUTH0_OIDC_DISCOVERY", default=False)
AUTH0_JWKS_HOSTS = env.list("AUTH0_JWKS_HOSTS", default=[])  # where else discovered key sets may be
AUTH0_DPOP = env.str("AUTH0_DPOP", default="allowed")
AUTH0_DPOP_NONCE = env.bool("AUTH0_DPOP_NONCE", default=False)
# DPoP proofs already used: in Redis with REDIS_URL (every host), else in authn's file on this host (its workers).
AUTH0_DPOP_REPLAY_CACHE = "default" if REDIS_URL else ""
AUTH0_MTLS_CLIENT_CERT_HEADER = env.str("AUTH0_MTLS_CLIENT_CERT_HEADER", default="")
AUTH0_MTLS_CLIENT_CERT_FORMAT = env.str("AUTH0_MTLS_CLIENT_CERT_FORMAT", default="pem")
AUTH0_ORGANIZATIONS = env.list("AUTH0_ORGANIZATIONS", default=[])
# The proxies gunicorn trusts for X-Forwarded-* are the ones trusted to pass the client certificate on.
AUTH0_MTLS_TRUSTED_PROXIES = env.list("FORWARDED_ALLOW_IPS", default=["127.0.0.1", "::1"])
# /readyz names each issuer and its state; false for the overall status alone (a public probe).
AUTH0_READYZ_ISSUERS = env.bool("AUTH0_READYZ_ISSUERS", default=True)
# Comma-separated; unset, authn's defaults (RS256 for tokens, ES256 for DPoP proofs).
if "AUTH0_ALGORITHMS" in os.environ:
    AUTH0_ALGORITHMS = [name.strip() for name in env.list("AUTH0_ALGORITHMS")]
if "AUTH0_DPOP_ALGORITHMS" in os.environ:
    AUTH0_DPOP_ALGORITHMS = [name.strip() for name in env.list("AUTH0_DPOP_ALGORITHMS")]

# -- CORS: listed single-page apps may call the API with an Authorization header ----

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=["http://localhost:3000"])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "dpop", "user-agent", "x-requested-with"]
CORS_EXPOSE_HEADERS = ["WWW-Authenticate", "Retry-After", "DPoP-Nonce"]

# -- logging: one line per event, to stderr; LOG_FORMAT=json for one JSON object per line ----

LOG_FORMAT = "json" if env.str("LOG_FORMAT", default="plain").lower() == "json" else "plain"
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    LOG_LEVEL = "INFO"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "class": "authn.logformat.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "authn.logformat.JSONFormatter"},
    },
    "filters": {"client_error_without_traceback": {"()": "authn.logformat.ClientErrorWithoutTraceback"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["client_error_without_traceback"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": [], "level": "INFO"}},  # through the root's handler, once
}
