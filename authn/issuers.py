"""Which issuers are trusted: the domains listed, each with its issuer and key set URL, or a resolver's.

- The domain setting names one or more tenant domains: each domain ``d`` is the
  issuer ``https://d/`` (or the issuer setting's entry naming its host), its
  key set at ``{issuer}.well-known/jwks.json`` (or wherever its discovery
  document says).
- The domain setting may instead be a callable returning the domains trusted for
  a request; their key caches are made on first use, a bounded number kept.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest

from authn.conf import AuthnSettings
from authn.errors import KeysUnavailable
from authn.fetch import origin
from authn.jwks import KeySetCache
from authn.tokens import KeySource

logger = logging.getLogger("authn")

MAX_RESOLVED_ISSUERS = 256  # key caches kept for the issuers a resolver names


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


def configured_issuers(settings: AuthnSettings) -> list[IssuerConfig]:
    """The issuers of the domains listed, in order, without repeats."""
    domains = list(settings.domains)
    given = issuers_by_domain(domains, list(settings.issuer))
    jwks_url = settings.jwks_url if len(domains) == 1 else ""
    configs = []
    for domain in domains:
        issuer = given[domain][0] if domain in given else issuer_of(domain)
        configs.append(IssuerConfig(issuer, jwks_url or default_jwks_url(issuer, discovery=settings.oidc_discovery)))
    return configs


def issuers_by_domain(domains: list[str], issuers: list[str]) -> dict[str | None, list[str]]:
    """The issuers given by domain: a single domain's single issuer, whatever its host; otherwise each
    under the domain whose host and port it names, under ``None`` if it names none."""
    if len(domains) == 1 and len(issuers) == 1:
        return {domains[0]: issuers}
    found: dict[str | None, list[str]] = {}
    for issuer in issuers:
        named = origin(issuer)
        domain = next((d for d in domains if named and origin(f"{named.scheme}://{d}") == named), None)
        found.setdefault(domain, []).append(issuer)
    return found


def default_jwks_url(issuer: str, *, discovery: bool) -> str | None:
    """Where an issuer's key set is when nothing says otherwise; ``None``: its discovery document says."""
    return None if discovery else issuer.rstrip("/") + "/.well-known/jwks.json"


class ResolvedIssuers(Mapping[str, KeySource]):
    """Key caches for the issuers a resolver names, made on first use, at most ``max_issuers`` of them.

    Forgetting a cache would forget its cooldown, so only one whose cooldown has passed with no fetch
    in flight is dropped (the least recently used first); until one can be, a new issuer gets 503.
    """

    def __init__(
        self,
        make: Callable[[str], KeySetCache],
        max_issuers: int = MAX_RESOLVED_ISSUERS,
        fixed: Mapping[str, KeySource] | None = None,
    ) -> None:
        self._make = make
        self._max_issuers = max_issuers
        self._fixed = dict(fixed or {})  # key sources of issuers trusted besides the resolver's: never dropped
        self._caches: OrderedDict[str, KeySetCache] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, issuer: str) -> KeySource:
        """The cache of ``issuer``, made if need be; ``KeysUnavailable`` when none can make room for it."""
        if issuer in self._fixed:
            return self._fixed[issuer]
        with self._lock:
            cache = self._caches.get(issuer)
            if cache is not None:
                self._caches.move_to_end(issuer)
                return cache
            if len(self._caches) >= self._max_issuers:
                self._drop_one()
            cache = self._caches[issuer] = self._make(issuer)
            return cache

    def get(self, issuer: str, default: Any = None) -> Any:
        """The cache of ``issuer`` if one is kept: unlike a lookup, never makes one (nor drops another)."""
        return self._fixed.get(issuer) or self._caches.get(issuer, default)

    def __contains__(self, issuer: object) -> bool:
        return issuer in self._fixed or issuer in self._caches  # without making a cache, unlike a lookup

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter([*self._fixed, *self._caches])

    def __len__(self) -> int:
        return len(self._fixed) + len(self._caches)

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


class Resolver:
    """The issuers a project's callable trusts for each request: each domain it returns is ``https://d/``."""

    def __init__(self, resolve: Callable[[HttpRequest], Any], also: frozenset[str] = frozenset()) -> None:
        self._resolve, self._also = resolve, also

    def __call__(self, request: HttpRequest) -> frozenset[str]:
        issuers = set(self._also)  # trusted besides the resolver's (a test issuer)
        returned = self._resolve(request)
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
