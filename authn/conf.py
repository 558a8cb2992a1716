"""The authn settings: flat ``AUTH0_*`` Django settings, read on every access.

Reading through this object (instead of copying values at import time) keeps
``override_settings`` and pytest-django's ``settings`` fixture working. Every
default comes from ``authn.defaults``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from authn.defaults import DEFAULTS

DEV_ISSUER = "https://dev-issuer.localhost/"
DEV_AUDIENCE = "https://messages-api.localhost"
DPOP_MODES = ("allowed", "required", "disabled")


def setting(name: str) -> Any:
    """The value of ``name``, or its default."""
    return getattr(settings, name, DEFAULTS[name])


def as_list(value: Any) -> list[str]:
    """A comma-separated string or a list of strings, as a list of its non-empty items."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


class Auth0Settings:
    """Typed access to the ``AUTH0_*`` settings."""

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
    def issuer_override(self) -> str:
        return setting("AUTH0_ISSUER") or ""

    @property
    def jwks_url_override(self) -> str:
        return setting("AUTH0_JWKS_URL") or ""

    @property
    def oidc_discovery(self) -> bool:
        return setting("AUTH0_OIDC_DISCOVERY")

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
    def algorithms(self) -> Sequence[str]:
        return setting("AUTH0_ALGORITHMS")

    @property
    def leeway_seconds(self) -> float:
        return setting("AUTH0_LEEWAY_SECONDS")

    @property
    def scope_claim(self) -> str:
        return setting("AUTH0_SCOPE_CLAIM")

    @property
    def permissions_claim(self) -> str:
        return setting("AUTH0_PERMISSIONS_CLAIM")

    @property
    def max_token_length(self) -> int:
        return setting("AUTH0_MAX_TOKEN_LENGTH")

    @property
    def realm(self) -> str:
        return setting("AUTH0_REALM")

    @property
    def token_cache_size(self) -> int:
        return setting("AUTH0_TOKEN_CACHE_SIZE")

    @property
    def token_cache_bytes(self) -> int:
        return setting("AUTH0_TOKEN_CACHE_BYTES")

    @property
    def jwks_cache_seconds(self) -> float:
        return setting("AUTH0_JWKS_CACHE_SECONDS")

    @property
    def jwks_cooldown_seconds(self) -> float:
        return setting("AUTH0_JWKS_COOLDOWN_SECONDS")

    @property
    def jwks_stale_seconds(self) -> float:
        return setting("AUTH0_JWKS_STALE_SECONDS")

    @property
    def jwks_connect_timeout(self) -> float:
        return setting("AUTH0_JWKS_CONNECT_TIMEOUT")

    @property
    def jwks_read_timeout(self) -> float:
        return setting("AUTH0_JWKS_READ_TIMEOUT")

    @property
    def jwks_max_bytes(self) -> int:
        return setting("AUTH0_JWKS_MAX_BYTES")

    @property
    def jwks_max_keys(self) -> int:
        return setting("AUTH0_JWKS_MAX_KEYS")

    @property
    def jwks_min_rsa_bits(self) -> int:
        return setting("AUTH0_JWKS_MIN_RSA_BITS")

    @property
    def jwks_max_rsa_bits(self) -> int:
        return setting("AUTH0_JWKS_MAX_RSA_BITS")

    @property
    def dpop_mode(self) -> str:
        return setting("AUTH0_DPOP")

    @property
    def dpop_algorithms(self) -> Sequence[str]:
        return setting("AUTH0_DPOP_ALGORITHMS")

    @property
    def dpop_max_age_seconds(self) -> float:
        return setting("AUTH0_DPOP_MAX_AGE_SECONDS")

    @property
    def dpop_leeway_seconds(self) -> float:
        return setting("AUTH0_DPOP_LEEWAY_SECONDS")

    @property
    def dpop_replay_cache(self) -> str:
        return setting("AUTH0_DPOP_REPLAY_CACHE")

    @property
    def dpop_nonce(self) -> bool:
        return setting("AUTH0_DPOP_NONCE")

    @property
    def dpop_nonce_seconds(self) -> float:
        return setting("AUTH0_DPOP_NONCE_SECONDS")

    @property
    def mtls_client_cert_header(self) -> str:
        return setting("AUTH0_MTLS_CLIENT_CERT_HEADER") or ""

    @property
    def user_lookup_field(self) -> str:
        return setting("AUTH0_USER_LOOKUP_FIELD")

    @property
    def user_claims_hook(self) -> Any:
        return setting("AUTH0_USER_CLAIMS_HOOK")

    @property
    def refusal_log_rate(self) -> float:
        return setting("AUTH0_REFUSAL_LOG_RATE")


auth0_settings = Auth0Settings()
