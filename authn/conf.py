"""The authn settings: flat ``AUTH0_*`` Django settings, read on every access.

Reading through this object (instead of copying values at import time) keeps
``override_settings`` and pytest-django's ``settings`` fixture working. Every
default comes from ``authn.defaults``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.conf import settings

from authn.defaults import DEFAULTS

DEV_ISSUER = "https://dev-issuer.localhost/"
DEV_AUDIENCE = "https://messages-api.localhost"
DPOP_MODES = ("allowed", "required", "disabled")

T = TypeVar("T")


def setting(name: str) -> Any:
    """The value of ``name``, or its default."""
    return getattr(settings, name, DEFAULTS[name])


def as_list(value: Any) -> list[str]:
    """A comma-separated string or a list of strings, as a list of its non-empty items."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


class Setting(Generic[T]):
    """A class attribute reading one Django setting (or its default) on every access."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> T:
        value: T = setting(self.name)
        return value


class Auth0Settings:
    """Typed access to the ``AUTH0_*`` settings."""

    oidc_discovery = Setting[bool]("AUTH0_OIDC_DISCOVERY")
    algorithms = Setting[Sequence[str]]("AUTH0_ALGORITHMS")
    leeway_seconds = Setting[float]("AUTH0_LEEWAY_SECONDS")
    scope_claim = Setting[str]("AUTH0_SCOPE_CLAIM")
    permissions_claim = Setting[str]("AUTH0_PERMISSIONS_CLAIM")
    max_token_length = Setting[int]("AUTH0_MAX_TOKEN_LENGTH")
    realm = Setting[str]("AUTH0_REALM")
    token_cache_size = Setting[int]("AUTH0_TOKEN_CACHE_SIZE")
    token_cache_bytes = Setting[int]("AUTH0_TOKEN_CACHE_BYTES")
    jwks_cache_seconds = Setting[float]("AUTH0_JWKS_CACHE_SECONDS")
    jwks_cooldown_seconds = Setting[float]("AUTH0_JWKS_COOLDOWN_SECONDS")
    jwks_stale_seconds = Setting[float]("AUTH0_JWKS_STALE_SECONDS")
    jwks_max_waiting = Setting[int]("AUTH0_JWKS_MAX_WAITING")
    jwks_connect_timeout = Setting[float]("AUTH0_JWKS_CONNECT_TIMEOUT")
    jwks_read_timeout = Setting[float]("AUTH0_JWKS_READ_TIMEOUT")
    jwks_max_bytes = Setting[int]("AUTH0_JWKS_MAX_BYTES")
    jwks_max_keys = Setting[int]("AUTH0_JWKS_MAX_KEYS")
    jwks_min_rsa_bits = Setting[int]("AUTH0_JWKS_MIN_RSA_BITS")
    jwks_max_rsa_bits = Setting[int]("AUTH0_JWKS_MAX_RSA_BITS")
    dpop_mode = Setting[str]("AUTH0_DPOP")
    dpop_algorithms = Setting[Sequence[str]]("AUTH0_DPOP_ALGORITHMS")
    dpop_max_age_seconds = Setting[float]("AUTH0_DPOP_MAX_AGE_SECONDS")
    dpop_leeway_seconds = Setting[float]("AUTH0_DPOP_LEEWAY_SECONDS")
    dpop_replay_cache = Setting[str]("AUTH0_DPOP_REPLAY_CACHE")
    dpop_replay_file = Setting[Any]("AUTH0_DPOP_REPLAY_FILE")  # a path, or empty; the checks refuse anything else
    dpop_replay_max_entries = Setting[int]("AUTH0_DPOP_REPLAY_MAX_ENTRIES")
    dpop_nonce = Setting[bool]("AUTH0_DPOP_NONCE")
    dpop_nonce_seconds = Setting[float]("AUTH0_DPOP_NONCE_SECONDS")
    user_lookup_field = Setting[str]("AUTH0_USER_LOOKUP_FIELD")
    user_claims_hook = Setting[Any]("AUTH0_USER_CLAIMS_HOOK")
    refusal_log_rate = Setting[float]("AUTH0_REFUSAL_LOG_RATE")
    readyz_issuers = Setting[bool]("AUTH0_READYZ_ISSUERS")
    mtls_client_cert_format = Setting[str]("AUTH0_MTLS_CLIENT_CERT_FORMAT")

    @property
    def domain_resolver(self) -> Callable[..., Any] | None:
        """``AUTH0_DOMAIN`` when it is a callable returning the domains trusted for a request."""
        value = setting("AUTH0_DOMAIN")
        return value if callable(value) else None

    @property
    def domains(self) -> list[str]:
        """The statically configured tenant domains (empty for a resolver)."""
        value = setting("AUTH0_DOMAIN")
        return [] if callable(value) else as_list(value)

    @property
    def tenant_configured(self) -> bool:
        return bool(self.domains) or self.domain_resolver is not None

    @property
    def audiences(self) -> list[str]:
        return as_list(setting("AUTH0_AUDIENCE"))

    @property
    def issuers(self) -> list[str]:
        """The exact issuer identifiers ``AUTH0_ISSUER`` gives, for the domains whose hosts they name."""
        return as_list(setting("AUTH0_ISSUER"))

    @property
    def jwks_url_override(self) -> str:
        return setting("AUTH0_JWKS_URL") or ""

    @property
    def jwks_hosts(self) -> list[str]:
        return as_list(setting("AUTH0_JWKS_HOSTS"))

    @property
    def dev_issuer_active(self) -> bool:
        """The embedded development issuer is trusted only when debugging without a tenant."""
        return not self.tenant_configured and bool(settings.DEBUG)

    @property
    def dev_audiences(self) -> list[str]:
        return self.audiences or [DEV_AUDIENCE]

    @property
    def dev_key_file(self) -> Path:
        return Path(setting("AUTH0_DEV_KEY_FILE"))

    @property
    def mtls_client_cert_header(self) -> str:
        return setting("AUTH0_MTLS_CLIENT_CERT_HEADER") or ""

    @property
    def mtls_trusted_proxies(self) -> tuple[str, ...]:
        """The entries of ``AUTH0_MTLS_TRUSTED_PROXIES`` that are strings; none if it is of another type."""
        value = setting("AUTH0_MTLS_TRUSTED_PROXIES")
        return tuple(as_list(value)) if isinstance(value, (str, list, tuple)) else ()


auth0_settings = Auth0Settings()
