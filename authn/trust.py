"""Which issuer this process trusts, and the one validator built from the settings.

The validator (and the key cache inside it) is built on first use and rebuilt
whenever an ``AUTH0_*`` setting or ``DEBUG`` changes.
"""

from __future__ import annotations

import threading
from typing import Any

from authn.conf import DEV_ISSUER, auth0_settings
from authn.devissuer import DevIssuer
from authn.jwks import KeySetCache, SigningKey
from authn.tokens import KeySource, TokenValidator

_validator: TokenValidator | None = None
_lock = threading.Lock()


class NoKeySource:
    """Trusts nothing: with debug off and no tenant, every token is refused."""

    def get_key(self, kid: str) -> SigningKey | None:
        return None

    peek = get_key


def get_validator() -> TokenValidator:
    validator = _validator
    if validator is None:
        with _lock:
            validator = _validator or _build_validator()
            _set(validator)
    return validator


def dev_issuer() -> DevIssuer | None:
    """The embedded development issuer, when a development server with these settings trusts it."""
    key_source = get_validator().key_source
    if isinstance(key_source, DevIssuer):
        return key_source
    return DevIssuer(auth0_settings.dev_key_file, DEV_ISSUER) if auth0_settings.dev_issuer_minting else None


def reset(*, setting: str = "AUTH0_", **_: Any) -> None:
    """``setting_changed`` receiver: forget the validator when its settings change."""
    if setting.startswith("AUTH0_") or setting == "DEBUG":
        _set(None)


def _set(validator: TokenValidator | None) -> None:
    global _validator  # noqa: PLW0603 - one validator per process, by design
    _validator = validator


def _build_validator() -> TokenValidator:
    s = auth0_settings
    key_source: KeySource
    if s.domain:
        issuer, audiences = s.issuer, s.audiences
        key_source = tenant_key_set()
    elif s.dev_issuer_active:
        issuer, audiences = DEV_ISSUER, s.dev_audiences
        key_source = DevIssuer(s.dev_key_file, issuer)
    else:
        issuer, audiences, key_source = "", [], NoKeySource()
    return TokenValidator(
        issuer=issuer,
        audiences=audiences,
        algorithms=s.algorithms,
        key_source=key_source,
        leeway=s.leeway_seconds,
        scope_claim=s.scope_claim,
        permissions_claim=s.permissions_claim,
        max_length=s.max_token_length,
        cache_size=s.token_cache_size,
    )


def tenant_key_set() -> KeySetCache:
    """A key cache for the configured tenant, as the settings describe it."""
    s = auth0_settings
    return KeySetCache(
        s.jwks_url,
        algorithms=s.algorithms,
        ttl=s.jwks_cache_seconds,
        cooldown=s.jwks_cooldown_seconds,
        stale_for=s.jwks_stale_seconds,
        connect_timeout=s.jwks_connect_timeout,
        read_timeout=s.jwks_read_timeout,
        max_bytes=s.jwks_max_bytes,
        max_keys=s.jwks_max_keys,
    )


def describe() -> str:
    """One line for the start-up log: which issuer is trusted, and for which audience."""
    validator = get_validator()
    audiences = ", ".join(sorted(validator.audiences))
    key_source = validator.key_source
    if isinstance(key_source, KeySetCache):
        return f"Trusting Auth0 issuer {validator.issuer} for audience {audiences}; signing keys from {key_source.url}"
    if isinstance(key_source, DevIssuer):
        return (
            f"Trusting the embedded DEVELOPMENT issuer {validator.issuer} for audience {audiences} "
            f"(DEBUG is on and AUTH0_DOMAIN is unset; key in {key_source.key_file}). "
            "Mint a token with: python manage.py mint_token"
        )
    return "Trusting NO issuer: AUTH0_DOMAIN is unset and DEBUG is off, so every private call gets 401"
