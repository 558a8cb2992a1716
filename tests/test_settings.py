"""The project's settings: the environment (and a ``.env`` file) through django-environ.

Each case loads a fresh copy of ``config/settings.py`` from a temporary project
root, so its ``.env`` is the test's own; the process environment is restored
afterwards, whatever the file put in it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from types import ModuleType

import pytest

from tests.support.checkout import ROOT

pytestmark = pytest.mark.example  # the example project itself, not the library

SETTINGS_FILE = ROOT / "config" / "settings.py"
OWN_VARIABLES = ("DJANGO_", "AUTH0_", "CORS_", "API_DOCS_", "REDIS_URL", "DATABASE_URL", "LOG_", "METRICS_")


@pytest.fixture
def load_settings(tmp_path, monkeypatch):
    """``load_settings(dotenv="", **environment)``: the settings module as a process with that environment sees it."""
    saved = dict(os.environ)
    (tmp_path / "config").mkdir()
    shutil.copy(SETTINGS_FILE, tmp_path / "config" / "settings.py")

    def load(dotenv: str = "", **environment: str) -> ModuleType:
        for name in list(os.environ):
            if name.startswith(OWN_VARIABLES):
                monkeypatch.delenv(name)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        (tmp_path / ".env").write_text(dotenv)
        spec = importlib.util.spec_from_file_location("settings_under_test", tmp_path / "config" / "settings.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    os.environ.clear()
    os.environ.update(saved)


def test_an_empty_environment_is_the_documented_defaults(load_settings):
    settings = load_settings()
    assert settings.DEBUG is False
    assert settings.ALLOWED_HOSTS == ["localhost", "127.0.0.1"]
    assert settings.CORS_ALLOWED_ORIGINS == ["http://localhost:3000"]


def test_dotenv_supplies_what_the_environment_does_not(load_settings):
    settings = load_settings(
        "# a comment\nAUTH0_DOMAIN=from-file.example.com\nexport AUTH0_AUDIENCE=https://a.example.com,https://b.example.com\n"
        "DJANGO_DEBUG=true\n",
        AUTH0_DOMAIN="from-env.example.com",
    )
    assert settings.AUTH0_DOMAIN == ["from-env.example.com"]
    assert settings.AUTH0_AUDIENCE == ["https://a.example.com", "https://b.example.com"]
    assert settings.DEBUG is True


def test_several_domains_are_a_list(load_settings):
    settings = load_settings(AUTH0_DOMAIN="dev-abc.us.auth0.com,login.example.com")
    assert settings.AUTH0_DOMAIN == ["dev-abc.us.auth0.com", "login.example.com"]


def test_algorithm_lists_come_from_the_environment_or_keep_authns_defaults(load_settings):
    plain = load_settings()
    assert not hasattr(plain, "AUTH0_ALGORITHMS")
    assert not hasattr(plain, "AUTH0_DPOP_ALGORITHMS")
    listed = load_settings(AUTH0_ALGORITHMS="RS256,PS256", AUTH0_DPOP_ALGORITHMS="ES256, Ed25519")
    assert listed.AUTH0_ALGORITHMS == ["RS256", "PS256"]
    assert listed.AUTH0_DPOP_ALGORITHMS == ["ES256", "Ed25519"]


def test_issuers_are_a_list(load_settings):
    assert load_settings().AUTH0_ISSUER == []
    assert load_settings(AUTH0_ISSUER="https://login.example.com/").AUTH0_ISSUER == ["https://login.example.com/"]
    settings = load_settings(AUTH0_ISSUER="https://login.example.com,https://dev-abc.us.auth0.com/")
    assert settings.AUTH0_ISSUER == ["https://login.example.com", "https://dev-abc.us.auth0.com/"]


def test_organizations_are_a_list(load_settings):
    assert load_settings().AUTH0_ORGANIZATIONS == []
    assert load_settings(AUTH0_ORGANIZATIONS="org_abc,acme").AUTH0_ORGANIZATIONS == ["org_abc", "acme"]


def test_jwks_hosts_are_a_list(load_settings):
    assert load_settings().AUTH0_JWKS_HOSTS == []
    settings = load_settings(AUTH0_JWKS_HOSTS="www.googleapis.com,keys.example.com:8443")
    assert settings.AUTH0_JWKS_HOSTS == ["www.googleapis.com", "keys.example.com:8443"]


def test_without_secret_key_debug_off_has_none_and_debug_on_makes_one(load_settings):
    assert load_settings().SECRET_KEY == ""  # check authn.E018 refuses to serve
    assert len(load_settings(DJANGO_DEBUG="true").SECRET_KEY) >= 50
    assert load_settings(DJANGO_SECRET_KEY="s3cret-from-env").SECRET_KEY == "s3cret-from-env"


def test_database_is_sqlite_unless_database_url_says_otherwise(load_settings, tmp_path):
    default = load_settings().DATABASES["default"]
    assert default["ENGINE"] == "django.db.backends.sqlite3"
    assert default["NAME"] == str(tmp_path / "db.sqlite3")
    postgres = load_settings(DATABASE_URL="postgres://api:pw@db.internal:5433/messages").DATABASES["default"]
    assert postgres["ENGINE"] == "django.db.backends.postgresql"
    assert (postgres["NAME"], postgres["USER"], postgres["HOST"], postgres["PORT"]) == (
        "messages",
        "api",
        "db.internal",
        5433,
    )
    assert postgres["CONN_HEALTH_CHECKS"] is True


def test_redis_url_makes_the_default_cache_shared(load_settings):
    assert load_settings().CACHES["default"]["BACKEND"].endswith("LocMemCache")
    cache = load_settings(REDIS_URL="redis://10.0.0.5:6379/2").CACHES["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://10.0.0.5:6379/2"
    assert cache["OPTIONS"]["socket_timeout"] <= 1


def test_proxy_settings_are_off_unless_set(load_settings):
    plain = load_settings()
    assert plain.SECURE_PROXY_SSL_HEADER is None
    assert (plain.SECURE_SSL_REDIRECT, plain.SECURE_HSTS_SECONDS, plain.USE_X_FORWARDED_HOST) == (False, 0, False)
    proxied = load_settings(
        DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://api.example.com",
        DJANGO_SECURE_SSL_REDIRECT="true",
        DJANGO_SECURE_HSTS_SECONDS="31536000",
    )
    assert proxied.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxied.CSRF_TRUSTED_ORIGINS == ["https://api.example.com"]
    assert (proxied.SECURE_SSL_REDIRECT, proxied.SECURE_HSTS_SECONDS) == (True, 31536000)


def test_mtls_trusts_the_proxies_gunicorn_trusts_for_forwarded_headers(load_settings, monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    plain = load_settings()
    assert plain.AUTH0_MTLS_TRUSTED_PROXIES == ["127.0.0.1", "::1"]  # gunicorn.conf.py's default too
    assert (plain.AUTH0_MTLS_CLIENT_CERT_HEADER, plain.AUTH0_MTLS_CLIENT_CERT_FORMAT) == ("", "pem")
    proxied = load_settings(
        FORWARDED_ALLOW_IPS="10.0.0.0/8,192.0.2.7",
        AUTH0_MTLS_CLIENT_CERT_HEADER="X-Forwarded-Client-Cert",
        AUTH0_MTLS_CLIENT_CERT_FORMAT="xfcc",
    )
    assert proxied.AUTH0_MTLS_TRUSTED_PROXIES == ["10.0.0.0/8", "192.0.2.7"]
    assert (proxied.AUTH0_MTLS_CLIENT_CERT_HEADER, proxied.AUTH0_MTLS_CLIENT_CERT_FORMAT) == (
        "X-Forwarded-Client-Cert",
        "xfcc",
    )


@pytest.mark.parametrize(
    ("environment", "formatter", "level"),
    [
        ({}, "plain", "INFO"),
        ({"LOG_FORMAT": "json", "LOG_LEVEL": "warning"}, "json", "WARNING"),
        ({"LOG_FORMAT": "JSON", "LOG_LEVEL": "loud"}, "json", "INFO"),
        ({"LOG_FORMAT": "xml"}, "plain", "INFO"),
    ],
)
def test_log_format_and_level(load_settings, environment, formatter, level):
    logging = load_settings(**environment).LOGGING
    assert logging["handlers"]["console"]["formatter"] == formatter
    assert logging["root"]["level"] == level


def test_metrics_middleware_only_when_enabled(load_settings):
    assert "authn.middleware.RequestMetricsMiddleware" not in load_settings().MIDDLEWARE
    assert load_settings(METRICS_ENABLED="true").MIDDLEWARE[0] == "authn.middleware.RequestMetricsMiddleware"
