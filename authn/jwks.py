"""Signing keys from the tenant's JWKS: the only module that touches the network.

``KeySetCache`` keeps one immutable snapshot of usable keys per process.
Readers never take a lock; at most one fetch runs at a time (single flight);
a fetch never starts within the cooldown of the previous one, whatever asked
for it (unknown ``kid``, expired TTL, or a retry after a failure); and a failed
refresh leaves the last good key set in service until its stale window ends.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import InvalidKeyError
from requests.adapters import HTTPAdapter

logger = logging.getLogger(__name__)

USER_AGENT = "messages-api-jwks/1.0 (+https://github.com/auth0-samples; python-requests)"
MIN_RSA_BITS = 2048
MAX_KID_LENGTH = 256
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


class KeySetError(Exception):
    """A key set could not be fetched or parsed; the message is safe to log."""


class KeySetUnavailable(Exception):
    """No usable key set for this token's ``kid``, and none can be fetched now."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"signing keys unavailable; retry after {retry_after} s")
        self.retry_after = retry_after
        self.context: Mapping[str, Any] = {}  # the token's unverified kid/iss/sub, for the log only


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """A public key fit to verify our tokens, as published under ``kid``."""

    kid: str
    public_key: RSAPublicKey
    algorithm: str | None  # the JWK's "alg", when it names one
    material: tuple[str, str]  # (n, e) as published, to recognise the same key on refresh


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: Mapping[str, SigningKey]
    fresh_until: float  # monotonic: refresh in the background after this
    usable_until: float  # monotonic: stale-if-error ends here


# -- parsing -----------------------------------------------------------------


def signing_key(jwk: Any, algorithms: Iterable[str]) -> SigningKey:
    """The key a JWK publishes, if it can verify tokens signed with ``algorithms``.

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
    if alg is not None and alg not in algorithms:
        raise KeySetError(f"{label}: alg is not an allowed algorithm")
    if PRIVATE_MEMBERS & jwk.keys():
        raise KeySetError(f"{label}: publishes private key material")
    n, e = jwk.get("n"), jwk.get("e")
    if not isinstance(n, str) or not isinstance(e, str):
        raise KeySetError(f"{label}: n or e is missing")
    try:
        public_key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": n, "e": e})
    except (InvalidKeyError, ValueError, TypeError) as err:
        raise KeySetError(f"{label}: n or e is malformed") from err
    if public_key.key_size < MIN_RSA_BITS:
        raise KeySetError(f"{label}: modulus is {public_key.key_size} bits, under {MIN_RSA_BITS}")
    return SigningKey(kid=kid, public_key=public_key, algorithm=alg, material=(n, e))


def parse_key_set(
    document: bytes, *, algorithms: Iterable[str], max_keys: int
) -> tuple[dict[str, SigningKey], list[str]]:
    """Usable keys by ``kid`` and the reasons others were ignored.

    The first usable key wins a duplicated ``kid``. Raises ``KeySetError``
    unless the document is a JWK Set with at least one usable key.
    """
    try:
        data = json.loads(document.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise KeySetError("response is not JSON") from err
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeySetError('response is not a JWK Set (no "keys" array)')
    if len(data["keys"]) > max_keys:
        raise KeySetError(f"key set has {len(data['keys'])} keys, over the limit of {max_keys}")
    usable: dict[str, SigningKey] = {}
    ignored: list[str] = []
    for jwk in data["keys"]:
        try:
            key = signing_key(jwk, algorithms)
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


# -- fetching ----------------------------------------------------------------


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_allowed_url(url: str) -> bool:
    """https anywhere; plain http only for a loopback host."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))


class _TrustStoreAdapter(HTTPAdapter):
    """Verifies TLS against the system store plus ``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE``."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        context = ssl.create_default_context()  # OpenSSL's defaults already honour SSL_CERT_FILE
        loaded = {ssl.get_default_verify_paths().cafile}
        for variable in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
            path = os.environ.get(variable)
            if path and path not in loaded and os.path.isfile(path):
                context.load_verify_locations(cafile=path)
                loaded.add(path)
        kwargs["ssl_context"] = context
        super().init_poolmanager(*args, **kwargs)


def _describe(err: Exception) -> str:
    if isinstance(err, requests.Timeout):
        return "timed out"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS verification failed"
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(err))
    return f"connection failed: {found.group(1).strip() if found else type(err).__name__}"


def fetch_key_set(url: str, *, connect_timeout: float, read_timeout: float, max_bytes: int) -> bytes:
    """The body of a 200 response from ``url``, bounded in time and size.

    No redirects, no cookies, no credentials from the environment. Raises
    ``KeySetError`` with the reason on any failure.
    """
    if not is_allowed_url(url):
        raise KeySetError("refusing a JWKS URL that is not https (plain http is for loopback hosts only)")
    deadline = time.monotonic() + connect_timeout + read_timeout
    with requests.Session() as session:
        session.trust_env = False  # no .netrc credentials or proxy surprises
        if urlsplit(url).scheme == "https":
            session.mount("https://", _TrustStoreAdapter())
        proxies = {} if is_loopback_host(urlsplit(url).hostname) else requests.utils.get_environ_proxies(url)
        try:
            with session.get(
                url,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"},
                timeout=(connect_timeout, read_timeout),
                allow_redirects=False,
                stream=True,
                proxies=proxies,
            ) as response:
                if response.status_code != 200:
                    redirect = " (redirects are not followed)" if response.is_redirect else ""
                    raise KeySetError(f"HTTP {response.status_code}{redirect}")
                return _read_bounded(response, max_bytes, deadline)
        except (requests.RequestException, OSError, ValueError) as err:  # the last two from a socket shut mid-read
            raise KeySetError(_describe(err)) from err


def _read_bounded(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise KeySetError(f"response is larger than {max_bytes} bytes")
    body = bytearray()
    # A read waits for a whole chunk and the read timeout only bounds each wait for a byte, so a
    # tenant trickling its answer would outlast the deadline: at the deadline the socket is shut,
    # which ends the read in progress.
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _shut_down, args=(response,))
    watchdog.daemon = True
    watchdog.start()
    try:
        for chunk in response.iter_content(chunk_size=16384):
            body += chunk
            if len(body) > max_bytes:
                raise KeySetError(f"response is larger than {max_bytes} bytes")
    except requests.RequestException as err:
        if time.monotonic() >= deadline:
            raise KeySetError("timed out") from err
        raise
    finally:
        watchdog.cancel()
    if time.monotonic() >= deadline:  # the watchdog cut the body short
        raise KeySetError("timed out")
    return bytes(body)


def _shut_down(response: requests.Response) -> None:
    # urllib3 < 2.3 has no shutdown(), and the response may be done already: then nothing is waiting.
    with contextlib.suppress(AttributeError, ValueError, RuntimeError, OSError):
        response.raw.shutdown()


# -- the per-process cache ---------------------------------------------------


class KeySetCache:
    """The tenant's signing keys, cached per process, refreshed at most once per cooldown."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str],
        ttl: float,
        cooldown: float,
        stale_for: float,
        connect_timeout: float,
        read_timeout: float,
        max_bytes: int,
        max_keys: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._algorithms = tuple(algorithms)
        self._ttl, self._cooldown, self._stale_for = ttl, cooldown, stale_for
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._max_bytes, self._max_keys = max_bytes, max_keys
        self._clock = clock
        self._snapshot: KeySet | None = None
        self._fetch_lock = threading.Lock()
        self._next_fetch_at = -math.inf
        self._last_fetch_failed = False

    def get_key(self, kid: str) -> SigningKey | None:
        """The key for ``kid``, fetching the key set if it is unknown.

        ``None`` when the tenant does not publish ``kid``. Raises
        ``KeySetUnavailable`` when no usable key set can be had, or when ``kid``
        is unknown and the last attempt to refresh failed.
        """
        seen = self._snapshot
        snapshot = self._usable(seen)
        if snapshot is not None and kid in snapshot.keys:
            return snapshot.keys[kid]
        snapshot = self._refresh_now(seen)
        if snapshot is None or (kid not in snapshot.keys and self._last_fetch_failed):
            raise KeySetUnavailable(self.retry_after())
        return snapshot.keys.get(kid)

    def peek(self, kid: str) -> SigningKey | None:
        """The cached key for ``kid``, never waiting on the network."""
        snapshot = self._usable(self._snapshot)
        return snapshot.keys.get(kid) if snapshot is not None else None

    def fetch_once(self) -> tuple[dict[str, SigningKey], list[str]]:
        """Fetch and parse the key set now, bypassing the cache: usable keys and why others were ignored.

        Raises ``KeySetError`` with the reason.
        """
        document = fetch_key_set(
            self.url, connect_timeout=self._connect_timeout, read_timeout=self._read_timeout, max_bytes=self._max_bytes
        )
        return parse_key_set(document, algorithms=self._algorithms, max_keys=self._max_keys)

    def retry_after(self) -> int:
        """Whole seconds until the next fetch may start (at least 1)."""
        return max(1, math.ceil(self._next_fetch_at - self._clock()))

    def _usable(self, snapshot: KeySet | None) -> KeySet | None:
        """``snapshot`` while inside its stale window; starts a background refresh once it is past its TTL."""
        now = self._clock()
        if snapshot is None or now >= snapshot.usable_until:
            return None
        if now >= snapshot.fresh_until and now >= self._next_fetch_at:
            self._refresh_in_background(snapshot)
        return snapshot

    def _refresh_in_background(self, seen: KeySet) -> None:
        # Requests holding a cached key never wait for the tenant.
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
        # Wait for the fetch in flight (or run it), bounded by the fetch timeout.
        if self._fetch_lock.acquire(timeout=self._connect_timeout + self._read_timeout + 1):
            self._fetch_and_release(seen)
        return self._usable(self._snapshot)

    def _fetch_unless_done(self, seen: KeySet | None) -> None:
        """Fetch, unless another thread replaced ``seen`` meanwhile or the cooldown forbids it."""
        started = self._clock()
        if self._snapshot is not seen or started < self._next_fetch_at:
            return
        self._next_fetch_at = started + self._cooldown
        try:
            keys, ignored = self.fetch_once()
        except KeySetError as err:
            # The cooldown restarts when a fetch fails, or the requests queued behind a fetch that ran
            # to its deadline would each start another, one after the other.
            self._next_fetch_at = self._clock() + self._cooldown
            self._last_fetch_failed = True
            self._log_failure(err, started)
            return
        self._install(keys)
        self._last_fetch_failed = False
        logger.info(
            "JWKS fetched url=%s status=200 duration_ms=%.0f usable_keys=%d ignored_keys=%d",
            self.url,
            (self._clock() - started) * 1000,
            len(keys),
            len(ignored),
        )
        for reason in ignored:
            logger.info("JWKS key ignored url=%s %s", self.url, reason)

    def _install(self, keys: dict[str, SigningKey]) -> None:
        # Keep the same key object for an unchanged key, so caches keyed on it stay valid.
        previous = self._snapshot.keys if self._snapshot is not None else {}
        for kid, key in keys.items():
            old = previous.get(kid)
            if old is not None and (old.material, old.algorithm) == (key.material, key.algorithm):
                keys[kid] = old
        now = self._clock()
        self._snapshot = KeySet(keys=keys, fresh_until=now + self._ttl, usable_until=now + self._ttl + self._stale_for)

    def _log_failure(self, err: KeySetError, started: float) -> None:
        snapshot = self._snapshot
        if snapshot is not None and started < snapshot.usable_until:
            outlook = f"serving the cached key set for up to {snapshot.usable_until - started:.0f} s more"
        else:
            outlook = "no usable key set cached"
        logger.warning(
            "JWKS fetch failed url=%s reason=%s duration_ms=%.0f; %s; next attempt in %.0f s",
            self.url,
            err,
            (self._clock() - started) * 1000,
            outlook,
            self._cooldown,
        )
