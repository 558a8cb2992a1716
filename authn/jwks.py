"""Signing keys from an issuer's JWKS, found directly or through OpenID Connect discovery.

``KeySetCache`` keeps one immutable snapshot of usable keys per issuer and
process. Readers never take a lock; at most one fetch runs at a time (single
flight); a fetch never starts within the cooldown of the previous one,
whatever asked for it (unknown ``kid``, expired TTL, or a retry after a
failure); and a failed refresh leaves the last good key set in service until
its stale window ends. ``authn.fetch`` does the network part.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from authn import metrics
from authn.errors import KeysUnavailable
from authn.fetch import FetchError, FetchLimits, fetch, is_allowed_url, origin
from authn.keys import MAX_KID_LENGTH, SigningKey, UnusableKey, rsa_public_key

logger = logging.getLogger(__name__)

PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


class KeySetError(Exception):
    """A key set (or discovery document) could not be fetched or used; the message is safe to log."""


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: Mapping[str, SigningKey]
    fresh_until: float  # monotonic: refresh in the background after this
    usable_until: float  # monotonic: stale-if-error ends here


@dataclass(frozen=True)
class KeyPolicy:
    """Which published keys are usable, and how a key set is fetched and kept."""

    algorithms: tuple[str, ...]
    limits: FetchLimits
    ttl: float
    cooldown: float
    stale_for: float
    max_waiting: int  # requests waiting on a fetch at once, the fetcher's too
    jwks_hosts: tuple[str, ...]  # hosts besides the issuer's a discovered jwks_uri may be on
    max_keys: int
    min_rsa_bits: int
    max_rsa_bits: int


# -- parsing -----------------------------------------------------------------


def signing_key(jwk: Any, policy: KeyPolicy) -> SigningKey:
    """The key a JWK publishes, if it can verify tokens under ``policy``.

    Raises ``KeySetError`` saying why the key is ignored.
    """
    if not isinstance(jwk, dict):
        raise KeySetError("a key is not a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise KeySetError("a key has no usable kid")
    label = f"kid {kid[:64]!r}"
    if jwk.get("kty") != "RSA":
        raise KeySetError(f"{label}: kty is not RSA")
    if jwk.get("use", "sig") != "sig":
        raise KeySetError(f"{label}: use is not sig")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise KeySetError(f"{label}: key_ops does not allow verify")
    alg = jwk.get("alg")
    if alg is not None and alg not in policy.algorithms:
        raise KeySetError(f"{label}: alg is not an allowed algorithm")
    if PRIVATE_MEMBERS & jwk.keys():
        raise KeySetError(f"{label}: publishes private key material")
    n, e = jwk.get("n"), jwk.get("e")
    try:
        public_key = rsa_public_key(n, e, min_bits=policy.min_rsa_bits, max_bits=policy.max_rsa_bits)
    except UnusableKey as err:
        raise KeySetError(f"{label}: {err}") from err
    return SigningKey(kid=kid, public_key=public_key, algorithm=alg, material=(str(n), str(e)))


def parse_key_set(document: bytes, policy: KeyPolicy) -> tuple[dict[str, SigningKey], list[str]]:
    """Usable keys by ``kid`` and the reasons others were ignored.

    The first usable key wins a duplicated ``kid``. Raises ``KeySetError``
    unless the document is a JWK Set with at least one usable key.
    """
    data = _json_object(document)
    if not isinstance(data.get("keys"), list):
        raise KeySetError('response is not a JWK Set (no "keys" array)')
    if len(data["keys"]) > policy.max_keys:
        raise KeySetError(f"key set has {len(data['keys'])} keys, over the limit of {policy.max_keys}")
    usable: dict[str, SigningKey] = {}
    ignored: list[str] = []
    for jwk in data["keys"]:
        try:
            key = signing_key(jwk, policy)
        except KeySetError as err:
            ignored.append(str(err))
            continue
        if key.kid in usable:
            ignored.append(f"kid {key.kid[:64]!r}: duplicate kid, the first usable key is kept")
            continue
        usable[key.kid] = key
    if not usable:
        raise KeySetError("key set has no usable signing key" + "".join(f"; {r}" for r in ignored))
    return usable, ignored


def parse_discovery(document: bytes, issuer: str, hosts: Collection[str] = ()) -> str:
    """The ``jwks_uri`` of an OpenID Provider's metadata for exactly ``issuer``.

    It must be on the issuer's origin, or on one of ``hosts`` (``host`` or ``host:port``): a document
    cannot send the server to fetch from anywhere else (another port of the issuer's host, a private
    address, a cloud metadata service).
    """
    data = _json_object(document)
    if data.get("issuer") != issuer:
        named = data.get("issuer")
        shown = repr(named[:200]) if isinstance(named, str) else f"<{type(named).__name__}>"
        raise KeySetError(f"discovery document is for issuer {shown}, not {issuer!r}")
    jwks_uri = data.get("jwks_uri")
    if not is_allowed_url(jwks_uri) or (found := origin(jwks_uri)) is None:
        raise KeySetError("discovery document's jwks_uri is not an https URL")
    if found not in {origin(issuer), *(origin(f"{found.scheme}://{host}") for host in hosts)}:
        raise KeySetError(
            f"discovery document's jwks_uri is on {found}, not on the issuer's origin {origin(issuer)}; "
            "list its host in AUTH0_JWKS_HOSTS to fetch keys from there"
        )
    return jwks_uri


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _json_object(document: bytes) -> dict[str, Any]:
    try:
        data = json.loads(document.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise KeySetError("response is not JSON") from err
    if not isinstance(data, dict):
        raise KeySetError("response is not a JSON object")
    return data


def _fetch(url: str, limits: FetchLimits) -> bytes:
    try:
        return fetch(url, limits)
    except FetchError as err:
        raise KeySetError(str(err)) from err


# -- the per-issuer cache ------------------------------------------------------


class KeySetCache:
    """One issuer's signing keys, cached per process, fetched at most once per cooldown.

    ``jwks_url=None`` finds the key set through the issuer's discovery
    document, itself cached: a failed refresh of it keeps the last good one.
    """

    def __init__(
        self,
        issuer: str,
        *,
        jwks_url: str | None,
        policy: KeyPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._jwks_url = jwks_url
        self.policy = policy
        self._clock = clock
        self._snapshot: KeySet | None = None
        self._discovered: tuple[str, float] | None = None  # (jwks_uri, fresh until)
        self._fetch_lock = threading.Lock()
        self._waiting = threading.BoundedSemaphore(policy.max_waiting)
        self._next_fetch_at = -math.inf
        self._last_fetch_failed = False

    @property
    def url(self) -> str:
        """Where the key set was last found (the discovery document's URL before discovery succeeded)."""
        if self._jwks_url is not None:
            return self._jwks_url
        return self._discovered[0] if self._discovered is not None else discovery_url(self.issuer)

    @property
    def discovers(self) -> bool:
        """Whether the key set is found through the issuer's discovery document."""
        return self._jwks_url is None

    def get_key(self, kid: str) -> SigningKey | None:
        """The key for ``kid``, fetching the key set if it is unknown.

        ``None`` when the issuer does not publish ``kid``. Raises
        ``KeysUnavailable`` when no usable key set can be had, or when ``kid``
        is unknown and the last attempt to refresh failed.
        """
        seen = self._snapshot
        snapshot = self._usable(seen)
        if snapshot is not None and kid in snapshot.keys:
            return snapshot.keys[kid]
        snapshot = self._refresh_now(seen)
        if snapshot is None or (kid not in snapshot.keys and self._last_fetch_failed):
            raise KeysUnavailable(self.retry_after())
        return snapshot.keys.get(kid)

    def peek(self, kid: str) -> SigningKey | None:
        """The cached key for ``kid``, never waiting on the network."""
        snapshot = self._usable(self._snapshot)
        return snapshot.keys.get(kid) if snapshot is not None else None

    def ready(self) -> bool:
        """Whether a usable key set is at hand, fetching one if there is none (within the cooldown)."""
        if self._usable(self._snapshot) is not None:
            return True
        try:
            return self._refresh_now(self._snapshot) is not None
        except KeysUnavailable:  # as many requests as allowed wait on a fetch already
            return False

    def fetch_once(self) -> tuple[dict[str, SigningKey], list[str]]:
        """Fetch and parse the key set now, bypassing the key cache: usable keys and why others were ignored.

        Raises ``KeySetError`` with the reason.
        """
        return parse_key_set(_fetch(self._locate(), self.policy.limits), self.policy)

    def forgettable_in(self) -> float:
        """Seconds until forgetting this cache could bring no fetch forward: 0 once the cooldown of its
        last fetch has passed with no fetch in flight."""
        remaining = max(0.0, self._next_fetch_at - self._clock())
        return max(remaining, 1.0) if self._fetch_lock.locked() else remaining

    def retry_after(self) -> int:
        """Whole seconds until the next fetch may start (at least 1)."""
        return max(1, math.ceil(self._next_fetch_at - self._clock()))

    def _locate(self) -> str:
        if self._jwks_url is not None:
            return self._jwks_url
        now = self._clock()
        if self._discovered is not None and now < self._discovered[1]:
            return self._discovered[0]
        try:
            document = _fetch(discovery_url(self.issuer), self.policy.limits)
            jwks_uri = parse_discovery(document, self.issuer, self.policy.jwks_hosts)
        except KeySetError as err:
            metrics.JWKS_FETCHES.labels("discovery_failure").inc()
            if self._discovered is None:
                raise KeySetError(f"discovery at {discovery_url(self.issuer)} failed: {err}") from err
            logger.warning(
                "OIDC discovery failed issuer=%s reason=%s; keeping jwks_uri=%s",
                self.issuer,
                err,
                self._discovered[0],
            )
            return self._discovered[0]
        metrics.JWKS_FETCHES.labels("discovery_success").inc()
        self._discovered = (jwks_uri, now + self.policy.ttl)
        return jwks_uri

    def _usable(self, snapshot: KeySet | None) -> KeySet | None:
        """``snapshot`` while inside its stale window; starts a background refresh once it is past its TTL."""
        now = self._clock()
        if snapshot is None or now >= snapshot.usable_until:
            return None
        if now >= snapshot.fresh_until and now >= self._next_fetch_at:
            self._refresh_in_background(snapshot)
        return snapshot

    def _refresh_in_background(self, seen: KeySet) -> None:
        # Requests holding a cached key never wait for the issuer.
        if not self._fetch_lock.acquire(blocking=False):
            return
        thread = threading.Thread(target=self._fetch_and_release, args=(seen,), name="jwks-refresh", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # cannot start a thread (interpreter shutting down)
            self._fetch_lock.release()

    def _fetch_and_release(self, seen: KeySet | None) -> None:
        try:
            self._fetch_unless_done(seen)
        finally:
            self._fetch_lock.release()

    def _refresh_now(self, seen: KeySet | None) -> KeySet | None:
        """The key set after a fetch now, or after the fetch in flight; none to wait for within the cooldown.

        Raises ``KeysUnavailable`` at once when ``policy.max_waiting`` requests wait already: each holds
        a server thread, and one issuer's outage must not take them all.
        """
        if self._fetch_lock.locked() or self._clock() >= self._next_fetch_at:
            if not self._waiting.acquire(blocking=False):
                raise KeysUnavailable(self.retry_after())
            try:
                self._wait_for_fetch(seen)
            finally:
                self._waiting.release()
        return self._usable(self._snapshot)

    def _wait_for_fetch(self, seen: KeySet | None) -> None:
        # Wait for the fetch in flight (or run it); a fetch ends by its deadline, discovery adding one more.
        documents = 1 if self._jwks_url is not None else 2
        if self._fetch_lock.acquire(timeout=self.policy.limits.deadline * documents + 1):
            self._fetch_and_release(seen)

    def _fetch_unless_done(self, seen: KeySet | None) -> None:
        """Fetch, unless another thread replaced ``seen`` meanwhile or the cooldown forbids it."""
        started = self._clock()
        if self._snapshot is not seen or started < self._next_fetch_at:
            return
        self._next_fetch_at = started + self.policy.cooldown
        try:
            keys, ignored = self.fetch_once()
        except KeySetError as err:
            # The cooldown restarts when a fetch fails, or the requests queued behind a fetch that ran
            # to its deadline would each start another, one after the other.
            self._next_fetch_at = self._clock() + self.policy.cooldown
            self._last_fetch_failed = True
            metrics.JWKS_FETCHES.labels("failure").inc()
            self._log_failure(err, started)
            return
        self._install(keys)
        self._last_fetch_failed = False
        metrics.JWKS_FETCHES.labels("success").inc()
        logger.info(
            "JWKS fetched issuer=%s url=%s status=200 duration_ms=%.0f usable_keys=%d ignored_keys=%d",
            self.issuer,
            self.url,
            (self._clock() - started) * 1000,
            len(keys),
            len(ignored),
        )
        for reason in ignored:
            logger.info("JWKS key ignored issuer=%s %s", self.issuer, reason)

    def _install(self, keys: dict[str, SigningKey]) -> None:
        # Keep the same key object for an unchanged key, so caches keyed on it stay valid.
        previous = self._snapshot.keys if self._snapshot is not None else {}
        for kid, key in keys.items():
            old = previous.get(kid)
            if old is not None and (old.material, old.algorithm) == (key.material, key.algorithm):
                keys[kid] = old
        now = self._clock()
        policy = self.policy
        self._snapshot = KeySet(
            keys=keys, fresh_until=now + policy.ttl, usable_until=now + policy.ttl + policy.stale_for
        )

    def _log_failure(self, err: KeySetError, started: float) -> None:
        snapshot = self._snapshot
        if snapshot is not None and started < snapshot.usable_until:
            outlook = f"serving the cached key set for up to {snapshot.usable_until - started:.0f} s more"
        else:
            outlook = "no usable key set cached"
        logger.warning(
            "JWKS fetch failed issuer=%s url=%s reason=%s duration_ms=%.0f; %s; next attempt in %.0f s",
            self.issuer,
            self.url,
            err,
            (self._clock() - started) * 1000,
            outlook,
            self.policy.cooldown,
        )
