"""Which issuers this process trusts, each with its own key source, and the one validator built from the settings.

- ``AUTH0_DOMAIN`` names one or more tenant domains: each domain ``d`` is the
  issuer ``https://d/`` (or the ``AUTH0_ISSUER`` entry naming its host) with
  its key set at ``{issuer}.well-known/jwks.json`` (or wherever its discovery
  document says, with ``AUTH0_OIDC_DISCOVERY``).
- ``AUTH0_DOMAIN`` may instead be a callable returning the domains trusted for
  a request; their key caches are made on first use.
- With no domain and debug on, the embedded development issuer; otherwise
  nothing is trusted.

The validator (and the key caches inside it) is built on first use and
rebuilt whenever an ``AUTH0_*`` setting or ``DEBUG`` changes.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest

from authn.conf import DEV_ISSUER, auth0_settings
from authn.devissuer import DevIssuer
from authn.dpop import ProofValidator
from authn.errors import KeysUnavailable
from authn.fetch import FetchLimits, origin
from authn.jwks import KeyPolicy, KeySetCache
from authn.replay import ReplayStore
from authn.replay import store as replay_store
from authn.tokens import KeySource, TokenValidator

logger = logging.getLogger("authn")

MAX_RESOLVED_ISSUERS = 256  # key caches kept for the issuers a resolver names

_validator: TokenValidator | None = None
_policy: RequestPolicy | None = None
_lock = threading.Lock()
_clock: Callable[[], float] | None = None  # None: the real clocks (time.time for tokens, time.monotonic for caches)


def use_clock(clock: Callable[[], float] | None) -> None:
    """Make the trust layer read ``clock`` for every time it needs (tests); ``None`` restores the real ones."""
    global _clock  # noqa: PLW0603 - one clock per process, like the validator
    _clock = clock
    _set(None, None)


def wall_clock() -> float:
    return (_clock or time.time)()


def monotonic_clock() -> float:
    return (_clock or time.monotonic)()


@dataclass(frozen=True)
class RequestPolicy:
    """The settings every request reads, read once: a setting read costs a lookup (and an exception for
    one left at its default); rebuilt with the validator when a setting changes."""

    dpop_mode: str
    max_header_length: int  # the longest Authorization value looked at: the token, its scheme and spaces
    refusal_log_rate: float
    realm: str
    dpop_algorithms: str  # space-separated, as challenges name them
    resolver: Callable[..., Any] | None
    proof_validator: ProofValidator
    replay_store: ReplayStore
    replay_seconds: float  # how long a proof's jti is remembered past its iat
    dpop_nonce: bool
    dpop_nonce_seconds: float


def request_policy() -> RequestPolicy:
    policy = _policy
    if policy is None:
        s = auth0_settings
        policy = RequestPolicy(
            dpop_mode=s.dpop_mode,
            max_header_length=s.max_token_length + 64,
            refusal_log_rate=s.refusal_log_rate,
            realm=s.realm,
            dpop_algorithms=" ".join(s.dpop_algorithms),
            resolver=s.domain_resolver,
            proof_validator=ProofValidator(
                algorithms=s.dpop_algorithms,
                max_age=s.dpop_max_age_seconds,
                leeway=s.dpop_leeway_seconds,
                clock=wall_clock,
            ),
            replay_store=replay_store(
                s.dpop_replay_cache, s.dpop_replay_file, s.dpop_replay_max_entries, monotonic_clock
            ),
            # A proof is accepted until iat + max age; kept a little longer for the clocks of other hosts.
            replay_seconds=s.dpop_max_age_seconds + s.dpop_leeway_seconds,
            dpop_nonce=s.dpop_nonce,
            dpop_nonce_seconds=s.dpop_nonce_seconds,
        )
        _set(_validator, policy)
    return policy


@dataclass(frozen=True)
class IssuerConfig:
    issuer: str
    jwks_url: str | None  # None: found through the issuer's discovery document


def issuer_of(domain: str) -> str:
    return f"https://{domain}/"


def domain_problem(domain: str) -> str | None:
    """Why ``domain`` is not a bare host name (an optional ``:port`` allowed), or ``None``."""
    try:
        parts = urlsplit(f"//{domain}")
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "its port is not a number from 0 to 65535"
    if "://" in domain or parts.netloc != domain or parts.username is not None or not parts.hostname:
        return "it is not a bare host name (no https://, no path)"
    if any(character.isspace() for character in domain):
        return "it contains whitespace"
    return None


def configured_issuers() -> list[IssuerConfig]:
    """The issuers ``AUTH0_DOMAIN`` names statically, in order, without repeats."""
    s = auth0_settings
    domains = list(dict.fromkeys(s.domains))
    given = issuers_by_domain(domains, s.issuers)
    jwks_url = s.jwks_url_override if len(domains) == 1 else ""
    configs = []
    for domain in domains:
        issuer = given[domain][0] if domain in given else issuer_of(domain)
        configs.append(IssuerConfig(issuer, jwks_url or default_jwks_url(issuer)))
    return configs


def issuers_by_domain(domains: list[str], issuers: list[str]) -> dict[str | None, list[str]]:
    """``AUTH0_ISSUER``'s entries by domain: a single domain's single entry, whatever its host; otherwise
    each under the domain whose host and port it names, under ``None`` if it names none."""
    if len(domains) == 1 and len(issuers) == 1:
        return {domains[0]: issuers}
    found: dict[str | None, list[str]] = {}
    for issuer in issuers:
        named = origin(issuer)
        domain = next((d for d in domains if named and origin(f"{named.scheme}://{d}") == named), None)
        found.setdefault(domain, []).append(issuer)
    return found


def default_jwks_url(issuer: str) -> str | None:
    if auth0_settings.oidc_discovery:
        return None
    return issuer.rstrip("/") + "/.well-known/jwks.json"


def key_policy() -> KeyPolicy:
    s = auth0_settings
    return KeyPolicy(
        algorithms=tuple(s.algorithms),
        limits=FetchLimits(
            connect_timeout=s.jwks_connect_timeout, read_timeout=s.jwks_read_timeout, max_bytes=s.jwks_max_bytes
        ),
        ttl=s.jwks_cache_seconds,
        cooldown=s.jwks_cooldown_seconds,
        stale_for=s.jwks_stale_seconds,
        max_waiting=s.jwks_max_waiting,
        jwks_hosts=tuple(s.jwks_hosts),
        max_keys=s.jwks_max_keys,
        min_rsa_bits=s.jwks_min_rsa_bits,
        max_rsa_bits=s.jwks_max_rsa_bits,
    )


def key_set(config: IssuerConfig, policy: KeyPolicy) -> KeySetCache:
    return KeySetCache(config.issuer, jwks_url=config.jwks_url, policy=policy, clock=monotonic_clock)


class ResolvedIssuers(Mapping[str, KeySource]):
    """Key caches for the issuers a resolver names, made on first use, at most ``max_issuers`` of them.

    Forgetting a cache would forget its cooldown, so only one whose cooldown has passed with no fetch
    in flight is dropped (the least recently used first); until one can be, a new issuer gets 503.
    """

    def __init__(self, policy: KeyPolicy, max_issuers: int = MAX_RESOLVED_ISSUERS) -> None:
        self._policy = policy
        self._max_issuers = max_issuers
        self._caches: OrderedDict[str, KeySetCache] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, issuer: str) -> KeySetCache:
        """The cache of ``issuer``, made if need be; ``KeysUnavailable`` when none can make room for it."""
        with self._lock:
            cache = self._caches.get(issuer)
            if cache is not None:
                self._caches.move_to_end(issuer)
                return cache
            if len(self._caches) >= self._max_issuers:
                self._drop_one()
            cache = key_set(IssuerConfig(issuer, default_jwks_url(issuer)), self._policy)
            self._caches[issuer] = cache
            return cache

    def get(self, issuer: str, default: Any = None) -> Any:
        """The cache of ``issuer`` if one is kept: unlike a lookup, never makes one (nor drops another)."""
        return self._caches.get(issuer, default)

    def __contains__(self, issuer: object) -> bool:
        return issuer in self._caches  # without making a cache, unlike a lookup

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._caches))

    def __len__(self) -> int:
        return len(self._caches)

    def _drop_one(self) -> None:
        """Drop the least recently used cache that can go; ``KeysUnavailable`` until the first can."""
        waits = []
        for issuer, cache in self._caches.items():
            wait = cache.forgettable_in()
            if wait <= 0:
                del self._caches[issuer]
                return
            waits.append(wait)
        raise KeysUnavailable(math.ceil(min(waits)))


def get_validator() -> TokenValidator:
    validator = _validator
    if validator is None:
        with _lock:
            validator = _validator or _build_validator()
            _set(validator, _policy)
    return validator


def issuers_for(request: HttpRequest) -> frozenset[str] | None:
    """The issuers a resolver trusts for ``request``; ``None`` when the configured ones apply."""
    resolver = request_policy().resolver
    if resolver is None:
        return None
    issuers = set()
    returned = resolver(request)
    for domain in [returned] if isinstance(returned, str) else returned or ():
        issuer = _resolved_issuer(domain) if isinstance(domain, str) else None
        if issuer is not None:
            issuers.add(issuer)
        else:
            logger.warning("AUTH0_DOMAIN resolver returned %r, which is not a domain; ignored", str(domain)[:100])
    return frozenset(issuers)


@functools.lru_cache(maxsize=MAX_RESOLVED_ISSUERS)
def _resolved_issuer(domain: str) -> str | None:
    """The issuer of a domain a resolver returned, ``None`` if it is not one: checked once per domain."""
    return issuer_of(domain) if domain_problem(domain) is None else None


def dev_issuer() -> DevIssuer | None:
    """The embedded development issuer, when a server with these settings trusts it."""
    if not auth0_settings.dev_issuer_active:
        return None
    key_source = get_validator().key_sources.get(DEV_ISSUER)
    return key_source if isinstance(key_source, DevIssuer) else None


def reset(*, setting: str = "AUTH0_", **_: Any) -> None:
    """``setting_changed`` receiver: forget the validator when its settings change."""
    if setting.startswith("AUTH0_") or setting == "DEBUG":
        _set(None, None)


def _set(validator: TokenValidator | None, policy: RequestPolicy | None) -> None:
    global _validator, _policy  # one validator and one policy per process, by design
    _validator, _policy = validator, policy


def _build_validator() -> TokenValidator:
    s = auth0_settings
    key_sources: Mapping[str, KeySource]
    audiences = s.audiences
    if s.domain_resolver is not None:
        key_sources = ResolvedIssuers(key_policy())
    elif s.domains:
        policy = key_policy()
        key_sources = {config.issuer: key_set(config, policy) for config in configured_issuers()}
    elif s.dev_issuer_active:
        key_sources, audiences = {DEV_ISSUER: DevIssuer(s.dev_key_file, DEV_ISSUER)}, s.dev_audiences
    else:
        key_sources = {}
    return TokenValidator(
        issuers=key_sources,
        audiences=audiences,
        algorithms=s.algorithms,
        leeway=s.leeway_seconds,
        scope_claim=s.scope_claim,
        permissions_claim=s.permissions_claim,
        max_length=s.max_token_length,
        cache_size=s.token_cache_size,
        cache_bytes=s.token_cache_bytes,
        clock=wall_clock,
    )


def readiness() -> dict[str, str] | None:
    """Each trusted issuer's state, ``"ready"`` when it has usable signing keys (fetched if need be).

    ``None`` when nothing is trusted; with a resolver, the issuers it has named so far.
    """
    sources = get_validator().key_sources
    if not sources and not isinstance(sources, ResolvedIssuers):
        return None
    states = {}
    for issuer in sources:
        key_source = sources.get(issuer)  # a resolver's issuer dropped meanwhile is not made again
        if key_source is not None:
            states[issuer] = "ready" if key_source.ready() else "no usable signing keys"
    return states


def describe() -> str:
    """One line for the start-up log: which issuers are trusted, and for which audience."""
    validator = get_validator()
    audiences = ", ".join(sorted(validator.audiences))
    sources = validator.key_sources
    if isinstance(sources, ResolvedIssuers):
        return f"Trusting the issuers AUTH0_DOMAIN's resolver names for each request, for audience {audiences}"
    if not sources:
        return "Trusting NO issuer: AUTH0_DOMAIN is unset and DEBUG is off, so every private call gets 401"
    dev = sources.get(DEV_ISSUER)
    if isinstance(dev, DevIssuer):
        return (
            f"Trusting the embedded DEVELOPMENT issuer {DEV_ISSUER} for audience {audiences} "
            f"(DEBUG is on and AUTH0_DOMAIN is unset; key in {dev.key_file}). "
            "Mint a token with: python manage.py mint_token"
        )
    described = "; ".join(
        f"{issuer} (keys from {source.url})" if isinstance(source, KeySetCache) else issuer
        for issuer, source in sources.items()
    )
    noun = "issuer" if len(sources) == 1 else f"{len(sources)} issuers"
    return f"Trusting Auth0 {noun} {described} for audience {audiences}"
