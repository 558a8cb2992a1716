"""Bounded HTTP GETs of key sets and discovery documents: the only code that touches the network.

A fetch ends within ``connect + read`` timeout whatever the server does: name
lookup, connect, TLS, status line, headers and body together. It runs in a
thread of its own; the caller waits for it until that deadline, then shuts
every socket it opened, so a server dribbling one byte at a time cannot hold
anyone past the deadline (the read timeout alone restarts with each byte).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from authn import __version__

USER_AGENT = f"drf-auth0-authn/{__version__} (python-requests)"
DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(Exception):
    """A document could not be fetched; the message is safe to log."""


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float
    read_timeout: float
    max_bytes: int

    @property
    def deadline(self) -> float:
        """Seconds a whole fetch may take."""
        return self.connect_timeout + self.read_timeout


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_allowed_url(url: object) -> TypeGuard[str]:
    """https anywhere; plain http only for a loopback host."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return bool(host) and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)))


class Origin(NamedTuple):
    scheme: str
    host: str  # lowercase
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def origin(url: str) -> Origin | None:
    """The scheme, host and port of an absolute URL (its scheme's default port when none is written)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return Origin(parts.scheme, parts.hostname, port if port is not None else DEFAULT_PORTS.get(parts.scheme, 0))


def fetch(url: str, limits: FetchLimits) -> bytes:
    """The body of a 200 response from ``url``, within ``limits``. Raises ``FetchError`` with the reason.

    No redirects, no cookies, no credentials or proxies from ``.netrc``; TLS
    verified against the system store plus ``SSL_CERT_FILE`` and
    ``REQUESTS_CA_BUNDLE``.
    """
    if not is_allowed_url(url):
        raise FetchError("refusing a URL that is not https (plain http is for loopback hosts only)")
    attempt = _Attempt(url, limits)
    worker = threading.Thread(target=attempt.run, name="authn-fetch", daemon=True)
    try:
        worker.start()
    except RuntimeError as err:  # no new threads: the interpreter is shutting down
        raise FetchError("cannot start a thread") from err
    worker.join(limits.deadline)
    return attempt.outcome()


_current_attempt: contextvars.ContextVar[_Attempt] = contextvars.ContextVar("authn_fetch_attempt")


class _Attempt:
    """One fetch, run in its own thread; ``outcome()`` ends it at the deadline."""

    def __init__(self, url: str, limits: FetchLimits) -> None:
        self.url, self.limits = url, limits
        self._deadline = time.monotonic() + limits.deadline
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._over = False
        self._body: bytes | None = None
        self._error: FetchError | None = None

    def run(self) -> None:
        _current_attempt.set(self)
        try:
            self._body = self._get()
        except FetchError as err:
            self._error = err
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as err:
            self._error = FetchError(_describe(err))  # OSError, ValueError: from a socket shut mid-read
        finally:
            with self._lock:
                self._over = True
                for sock in self._sockets:
                    sock.close()

    def watch(self, sock: socket.socket) -> None:
        """Called with each socket the fetch opens, before it is used."""
        with self._lock:
            if self._over:
                sock.close()
                raise FetchError("timed out")
            self._sockets.append(sock.dup())  # survives the TLS wrapper taking the original over

    def outcome(self) -> bytes:
        with self._lock:
            if not self._over:  # past the deadline: end the fetch wherever it is
                self._over = True
                for sock in self._sockets:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                raise FetchError("timed out")
        if self._error is not None:
            raise FetchError("timed out") if time.monotonic() >= self._deadline else self._error
        assert self._body is not None  # noqa: S101 - run() sets one of the two
        return self._body

    def _get(self) -> bytes:
        parts = urlsplit(self.url)
        with requests.Session() as session:
            session.trust_env = False  # no .netrc credentials or proxy surprises
            session.mount(f"{parts.scheme}://", _WatchedAdapter())
            proxies = {} if is_loopback_host(parts.hostname) else requests.utils.get_environ_proxies(self.url)
            with session.get(
                self.url,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"},
                timeout=(self.limits.connect_timeout, self.limits.read_timeout),
                allow_redirects=False,
                stream=True,
                proxies=proxies,
            ) as response:
                if response.status_code != 200:
                    redirect = " (redirects are not followed)" if response.is_redirect else ""
                    raise FetchError(f"HTTP {response.status_code}{redirect}")
                return _read_bounded(response, self.limits.max_bytes)


def _read_bounded(response: requests.Response, max_bytes: int) -> bytes:
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        raise FetchError("response is compressed (identity was asked for)")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"response is larger than {max_bytes} bytes")
    body = response.raw.read(max_bytes + 1, decode_content=False)
    if len(body) > max_bytes:
        raise FetchError(f"response is larger than {max_bytes} bytes")
    return body


def _describe(err: Exception) -> str:
    if isinstance(err, (requests.Timeout, urllib3.exceptions.TimeoutError)):
        return "timed out"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS verification failed"
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(err))
    return f"connection failed: {found.group(1).strip() if found else type(err).__name__}"


# -- urllib3 connections that report their sockets to the attempt -------------------------


class _Watched:
    """Hands each new socket to the attempt in progress, which shuts it at the deadline."""

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _current_attempt.get().watch(sock)
        return sock


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """Sockets reported to the attempt; TLS trusting the system store plus the environment's CA files."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = _trust_store()
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, ssl_context=_trust_store(), **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
        return manager


def _trust_store() -> ssl.SSLContext:
    """The system store plus the CA files the environment names; built once for each set of them."""
    named = (os.environ.get(variable) for variable in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"))
    return _context(tuple(dict.fromkeys(path for path in named if path and os.path.isfile(path))))


@functools.lru_cache(maxsize=8)
def _context(ca_files: tuple[str, ...]) -> ssl.SSLContext:
    context = ssl.create_default_context()  # OpenSSL's defaults already honour SSL_CERT_FILE
    for path in ca_files:
        if path != ssl.get_default_verify_paths().cafile:
            context.load_verify_locations(cafile=path)
    return context
