"""The authn settings: flat, prefixed Django settings read on every access.

Reading through this object (instead of copying values at import time) keeps
``override_settings`` and pytest-django's ``settings`` fixture working.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

DEV_ISSUER = "https://dev-issuer.localhost/"
DEV_AUDIENCE = "https://messages-api.localhost"


class Auth0Settings:
    """Typed access to the ``AUTH0_*`` settings, with the documented defaults."""

    @property
    def domain(self) -> str:
        return getattr(settings, "AUTH0_DOMAIN", "") or ""

    @property
    def audiences(self) -> list[str]:
        value = getattr(settings, "AUTH0_AUDIENCE", "") or ""
        items = value.split(",") if isinstance(value, str) else list(value)
        return [item.strip() for item in items if isinstance(item, str) and item.strip()]

    @property
    def issuer(self) -> str:
        configured = getattr(settings, "AUTH0_ISSUER", "") or ""
        if configured:
            return configured
        return f"https://{self.domain}/" if self.domain else ""

    @property
    def jwks_url(self) -> str:
        configured = getattr(settings, "AUTH0_JWKS_URL", "") or ""
        if configured or not self.issuer:
            return configured
        return self.issuer.rstrip("/") + "/.well-known/jwks.json"

    @property
    def dev_issuer_active(self) -> bool:
        """The embedded development issuer is trusted only when debugging without a tenant."""
        return not self.domain and bool(settings.DEBUG)

    @property
    def dev_issuer_minting(self) -> bool:
        """Whether ``mint_token`` may mint: no tenant, and debug on here or in what ``make run`` serves."""
        return not self.domain and bool(settings.DEBUG or getattr(settings, "MAKE_RUN_DEBUG", False))

    @property
    def dev_audiences(self) -> list[str]:
        return self.audiences or [DEV_AUDIENCE]

    @property
    def dev_key_file(self) -> Path:
        default = Path(settings.BASE_DIR) / ".dev-issuer" / "signing-key.pem"
        return Path(getattr(settings, "AUTH0_DEV_KEY_FILE", default))

    @property
    def algorithms(self) -> Sequence[str]:
        return getattr(settings, "AUTH0_ALGORITHMS", ("RS256",))

    @property
    def leeway_seconds(self) -> float:
        return getattr(settings, "AUTH0_LEEWAY_SECONDS", 10)

    @property
    def scope_claim(self) -> str:
        return getattr(settings, "AUTH0_SCOPE_CLAIM", "scope")

    @property
    def permissions_claim(self) -> str:
        return getattr(settings, "AUTH0_PERMISSIONS_CLAIM", "permissions")

    @property
    def max_token_length(self) -> int:
        return getattr(settings, "AUTH0_MAX_TOKEN_LENGTH", 8192)

    @property
    def token_cache_size(self) -> int:
        return getattr(settings, "AUTH0_TOKEN_CACHE_SIZE", 4096)

    @property
    def realm(self) -> str:
        return getattr(settings, "AUTH0_REALM", "api")

    @property
    def jwks_cache_seconds(self) -> float:
        return getattr(settings, "AUTH0_JWKS_CACHE_SECONDS", 600)

    @property
    def jwks_cooldown_seconds(self) -> float:
        return getattr(settings, "AUTH0_JWKS_COOLDOWN_SECONDS", 5)

    @property
    def jwks_stale_seconds(self) -> float:
        return getattr(settings, "AUTH0_JWKS_STALE_SECONDS", 3600)

    @property
    def jwks_connect_timeout(self) -> float:
        return getattr(settings, "AUTH0_JWKS_CONNECT_TIMEOUT", 2.0)

    @property
    def jwks_read_timeout(self) -> float:
        return getattr(settings, "AUTH0_JWKS_READ_TIMEOUT", 3.0)

    @property
    def jwks_max_bytes(self) -> int:
        return getattr(settings, "AUTH0_JWKS_MAX_BYTES", 64 * 1024)

    @property
    def jwks_max_keys(self) -> int:
        return getattr(settings, "AUTH0_JWKS_MAX_KEYS", 50)


auth0_settings = Auth0Settings()
