"""authn's settings as one frozen, typed snapshot: what every part of authn is given.

The snapshot is read from authn's flat Django settings (each default
from ``authn.defaults``, one field per row of its table) on first use, and read
again after any of them, or ``DEBUG``, changes (``setting_changed``), so
``override_settings`` and pytest-django's ``settings`` fixture work. Values are
normalised as their kind says (a comma-separated string becomes a tuple); a
value of the wrong kind falls back to the default here, and the system checks
refuse it.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from authn.defaults import PREFIX, SETTINGS, CertificateFormat, DPoPMode, Kind, Setting

Domains = tuple[str, ...] | Callable[..., Any]


class TrustMode(Enum):
    """Where the trusted issuers come from."""

    ISSUERS = "the domains listed"
    RESOLVER = "a callable naming them for each request"
    DEVELOPMENT = "the embedded development issuer (debug on, no domain)"
    NONE = "nothing is trusted (debug off, no domain)"


@dataclass(frozen=True)
class AuthnSettings:
    """Every setting of ``authn.defaults`` once, normalised; ``debug`` is Django's ``DEBUG``."""

    domain: Domains
    audience: tuple[str, ...]
    organizations: tuple[str, ...]
    issuer: tuple[str, ...]
    jwks_url: str
    oidc_discovery: bool
    jwks_hosts: tuple[str, ...]
    algorithms: tuple[str, ...]
    leeway_seconds: float
    scope_claim: str
    permissions_claim: str
    max_token_length: int
    realm: str
    token_cache_size: int
    token_cache_bytes: int
    jwks_cache_seconds: float
    jwks_cooldown_seconds: float
    jwks_stale_seconds: float
    jwks_max_waiting: int
    jwks_connect_timeout: float
    jwks_read_timeout: float
    jwks_max_bytes: int
    jwks_max_keys: int
    jwks_min_rsa_bits: int
    jwks_max_rsa_bits: int
    dpop: DPoPMode
    dpop_algorithms: tuple[str, ...]
    dpop_max_age_seconds: float
    dpop_leeway_seconds: float
    dpop_replay_cache: str
    dpop_replay_file: Any
    dpop_replay_max_entries: int
    dpop_nonce: bool
    dpop_nonce_seconds: float
    mtls_client_cert_header: str
    mtls_client_cert_format: CertificateFormat
    mtls_trusted_proxies: tuple[str, ...]
    user_lookup_field: str
    user_claims_hook: Any
    readyz_issuers: bool
    refusal_log_rate: float
    dev_key_file: Path
    debug: bool

    @property
    def trust_mode(self) -> TrustMode:
        if callable(self.domain):
            return TrustMode.RESOLVER
        if self.domain:
            return TrustMode.ISSUERS
        return TrustMode.DEVELOPMENT if self.debug else TrustMode.NONE

    @property
    def domains(self) -> tuple[str, ...]:
        """The domains listed, without repeats (none for a resolver)."""
        return () if callable(self.domain) else tuple(dict.fromkeys(self.domain))


def as_list(value: Any) -> list[str]:
    """A comma-separated string or a list of strings, as a list of its non-empty items (others dropped)."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else ()
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def read(source: Any = django_settings) -> AuthnSettings:
    """The snapshot of ``source``'s settings (Django's, by default)."""
    values = {row.field: _normalised(row, getattr(source, row.name, row.default)) for row in SETTINGS}
    return AuthnSettings(**values, debug=bool(getattr(source, "DEBUG", False)))


_snapshot: tuple[object, AuthnSettings] | None = None  # the settings object read, and what was read
_lock = threading.Lock()


def get() -> AuthnSettings:
    """This process's snapshot: read on first use, and again once the settings object is another.

    ``override_settings`` (pytest-django's ``settings`` too) installs another settings object, so every
    change made through it is seen, a deletion included, which sends no ``setting_changed``.
    """
    global _snapshot  # noqa: PLW0603 - one snapshot per process, by design
    source = getattr(django_settings, "_wrapped", None)
    found = _snapshot
    if found is None or found[0] is not source:
        with _lock:  # one snapshot for the threads of a cold start, and one runtime built from it
            found = _snapshot
            if found is None or found[0] is not source:
                found = _snapshot = (source, read())
    return found[1]


def reset(*, setting: str = PREFIX, **_: Any) -> None:
    """``setting_changed`` receiver: read the settings again when one of authn's, or ``DEBUG``, changes."""
    global _snapshot  # noqa: PLW0603
    if setting.startswith(PREFIX) or setting == "DEBUG":
        _snapshot = None


def project_path(path: str | os.PathLike[str]) -> Path:
    """``path``, relative to the project's directory: where the settings module's top package lies (the
    directory ``manage.py`` is in, as ``startproject`` lays it out), else the working directory."""
    found = Path(path)
    module = os.environ.get("DJANGO_SETTINGS_MODULE") or getattr(django_settings, "SETTINGS_MODULE", None)
    if found.is_absolute() or not module:
        return found
    package = importlib.import_module(module.partition(".")[0])
    return Path(package.__file__ or ".").resolve().parent.parent / found


def _normalised(row: Setting, value: Any) -> Any:
    if row.kind is Kind.CHOICE:
        assert row.choices is not None  # noqa: S101 - every CHOICE row names its choices
        return row.choices(value) if value in list(row.choices) else row.choices(row.default)
    reader = _READERS.get(row.kind)
    if reader is not None:
        return reader(value)
    return value if fits(row.kind, value) else row.default


def fits(kind: Kind, value: Any) -> bool:
    """Whether ``value`` is of ``kind`` as a project writes it (the system checks refuse it otherwise); a kind
    without a test here (``CHOICE``, ``DOMAINS``, ``OTHER``) has a check of its own."""
    test = _KIND_TESTS.get(kind)
    return test is None or test(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_list(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))


_KIND_TESTS: dict[Kind, Callable[[Any], bool]] = {
    Kind.POSITIVE: lambda value: _is_number(value) and value > 0,
    Kind.NON_NEGATIVE: lambda value: _is_number(value) and value >= 0,
    Kind.BOOLEAN: lambda value: isinstance(value, bool),
    Kind.NAME: lambda value: isinstance(value, str) and bool(value),
    Kind.TEXT: lambda value: isinstance(value, str),
    Kind.LIST: _is_list,
    Kind.PATH: lambda value: isinstance(value, (str, os.PathLike)),
}
_READERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.LIST: lambda value: tuple(as_list(value)),
    Kind.TEXT: lambda value: value if isinstance(value, str) else "",
    Kind.DOMAINS: lambda value: value if callable(value) else tuple(as_list(value)),
    Kind.PATH: lambda value: project_path(value if isinstance(value, (str, os.PathLike)) else ""),
}
