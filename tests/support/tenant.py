"""A stand-in Auth0 tenant on loopback: a real HTTP(S) server whose behaviour tests switch, and the tenant the
tests trust by default (``ISSUER``, ``AUDIENCE``, its key published as ``KID``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.support.tls import server_tls_context

ISSUER = "https://tenant.example.com/"  # the issuer the settings of the ``tenant`` fixture trust
AUDIENCE = "https://api.example.com/messages"
KID = "key-1"  # the kid a tenant publishes its key under, and ``make_token`` names

JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
# A dripping tenant sends a byte every DRIP_EVERY seconds, well within any read timeout, so only the deadline
# on the whole fetch can end the wait: its status line and headers alone take ~7 s, its body ~45 s.
DRIP_EVERY = 0.1


# -- what a tenant publishes: JWKs made by PyJWT or written by hand -------------------------------


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str = KID, **members: Any) -> dict[str, Any]:
    """The public JWK of ``private_key`` as Auth0 publishes it; ``members`` override or add."""
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256", **members}


def rsa_jwk(n: int | str, e: int | str = 65537, kid: str = "hand-made") -> dict[str, Any]:
    """A public RSA JWK written by hand: a number is base64url-encoded, a string is published as it is."""
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": number_b64url(n) if isinstance(n, int) else n,
        "e": number_b64url(e) if isinstance(e, int) else e,
    }


def number_b64url(number: int) -> str:
    """The big-endian base64url of ``number``, as a JWK writes ``n`` and ``e`` (RFC 7518 §6.3.1)."""
    octets = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(octets).rstrip(b"=").decode("ascii")


def odd_number(bits: int) -> int:
    """A fixed odd number exactly ``bits`` long: the shape of an RSA modulus (or of an absurd exponent)."""
    filler = int.from_bytes(hashlib.shake_256(str(bits).encode()).digest((bits + 7) // 8), "big")
    return (filler >> (-bits % 8)) | (1 << (bits - 1)) | 1


def jwk_set(*jwks: Any) -> bytes:
    """A JWK Set document (RFC 7517 §5) of ``jwks``, as a tenant serves it."""
    return json.dumps({"keys": list(jwks)}).encode()


# -- the server -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """An answer written to the connection as it is, piece by piece: status line and headers included."""

    pieces: Iterable[bytes]


Answer = tuple[int, dict[str, str | None], Any] | Raw | None
Responder = Callable[["TenantServer"], Answer]


class TenantServer:
    """Serves ``keys`` as a JWK Set at ``JWKS_PATH``; counts every request it answers.

    Switch its behaviour by assigning ``respond``: a callable taking the server
    and returning ``(status, headers, body)``, a ``Raw`` answer (bytes sent as
    they are, as ``drip_head`` does), or ``None`` to drop the connection.
    A header whose value is ``None`` is left out (``Content-Length`` is sent
    unless so removed); a body that is an iterable of byte strings is written
    piece by piece, as ``drip`` does. ``documents`` maps a path to a responder
    of its own (``{DISCOVERY_PATH: discovery()}``); every other path, the
    JWKS one included, is answered by ``respond``. ``hang`` makes every
    request wait until ``release()`` (or server shutdown). With ``tls`` (a
    server-side ``ssl.SSLContext``) it serves https instead of http.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.keys: list[dict[str, Any]] = []
        self.respond: Responder = serve_keys
        self.documents: dict[str, Responder] = {}
        self.requests: list[dict[str, str]] = []  # headers of each request, in order
        self.paths: list[str] = []  # the path of each request, in order
        self._release = threading.Event()
        self._release.set()
        self._stopping = threading.Event()
        self._lock = threading.Condition()  # guards requests and paths; notified at each request
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._httpd.tls = tls
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.005,), daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self._httpd.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def issuer(self) -> str:
        """The issuer this tenant would be: its URL with a trailing slash, as Auth0 spells one."""
        return self.url + "/"

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    @property
    def discovery_url(self) -> str:
        return self.url + DISCOVERY_PATH

    @property
    def fetches(self) -> int:
        with self._lock:
            return len(self.requests)

    def hang(self) -> None:
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` (a responder's pace); ``True`` when the server is stopping and the answer should end."""
        return self._stopping.wait(seconds)

    def start(self) -> TenantServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()

    def wait_for_fetches(self, count: int, timeout: float = 5.0) -> int:
        """The number of requests once it reaches ``count`` (or ``timeout`` passes)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.requests) >= count, timeout)
            return len(self.requests)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.do_handshake()  # here, in the connection's thread, not in the accept loop
                super().setup()

            def do_GET(self) -> None:
                path = urlsplit(self.path).path  # an absolute URL when the tenant is used as a proxy
                with tenant._lock:
                    tenant.requests.append(dict(self.headers.items()))
                    tenant.paths.append(path)
                    tenant._lock.notify_all()
                tenant._release.wait()
                answer = tenant.documents.get(path, tenant.respond)(tenant)
                if answer is None:
                    self.close_connection = True
                    return
                if isinstance(answer, Raw):
                    self.close_connection = True
                    self.write(answer.pieces)
                    return
                status, headers, body = answer
                pieces = [body] if isinstance(body, bytes) else body
                defaults = {"Content-Length": str(len(body))} if isinstance(body, bytes) else {}
                self.send_response(status)
                for name, value in {**defaults, **headers}.items():
                    if value is not None:
                        self.send_header(name, value)
                self.end_headers()
                self.write(pieces)

            def write(self, pieces: Iterable[bytes]) -> None:
                for piece in pieces:
                    self.wfile.write(piece)
                    self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def start_tenant(key: rsa.RSAPrivateKey, certificate_authority: dict[str, Path] | None = None) -> TenantServer:
    """A running stand-in tenant publishing ``key`` as ``KID``; over https with the server certificate of
    ``certificate_authority`` (the ``certificate_authority`` fixture's files) when one is given."""
    tls = server_tls_context(certificate_authority) if certificate_authority is not None else None
    server = TenantServer(tls=tls).start()
    server.keys = [public_jwk(key)]
    return server


def trusting(server: TenantServer) -> dict[str, Any]:
    """The settings that trust ``server`` as the issuer ``ISSUER`` (for ``override_settings``, or ``trust_tenant``)."""
    return {
        "AUTH0_DOMAIN": "tenant.example.com",
        "AUTH0_ISSUER": ISSUER,
        "AUTH0_AUDIENCE": [AUDIENCE],
        "AUTH0_JWKS_URL": server.jwks_url,
    }


def trust_tenant(settings: Any, server: TenantServer, key: rsa.RSAPrivateKey) -> TenantServer:
    """Publish ``key`` as ``KID`` from ``server`` and point the settings at it as the issuer ``ISSUER``."""
    server.keys = [public_jwk(key)]
    for name, value in trusting(server).items():
        setattr(settings, name, value)
    return server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (over-long body, untrusted certificate, timeout) is what tests provoke.
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


# -- responders ------------------------------------------------------------------------------------


def serve_keys(tenant: TenantServer) -> tuple[int, dict[str, str | None], bytes]:
    return 200, {"Content-Type": "application/json"}, jwk_set(*tenant.keys)


def serve(status: int, body: bytes | str = b"", **headers: str | None) -> Responder:
    """A fixed answer, e.g. ``serve(500, "oops")`` or ``serve(302, Location="http://...")``.

    ``Content_Length=None`` sends the body without a length: it ends when the connection closes.
    """
    payload = body.encode() if isinstance(body, str) else body
    return lambda _tenant: (status, {name.replace("_", "-"): value for name, value in headers.items()}, payload)


def discovery(**members: Any) -> Responder:
    """An OpenID Provider metadata document naming ``tenant.issuer`` and its ``jwks_url``.

    ``members`` replace or add members; a member given as ``None`` is left out.
    """

    def answer(tenant: TenantServer) -> tuple[int, dict[str, str | None], bytes]:
        document = {"issuer": tenant.issuer, "jwks_uri": tenant.jwks_url, **members}
        present = {name: value for name, value in document.items() if value is not None}
        return 200, {"Content-Type": "application/json"}, json.dumps(present).encode()

    return answer


def drip(body: bytes, *, every: float, **headers: str | None) -> Responder:
    """A 200 answer sending ``body`` one byte per ``every`` seconds (a stalled but never silent tenant)."""

    def answer(tenant: TenantServer) -> tuple[int, dict[str, str | None], Iterable[bytes]]:
        def pieces() -> Iterator[bytes]:
            for index in range(len(body)):
                yield body[index : index + 1]
                if tenant.pause(every):
                    return

        return 200, {"Content-Length": str(len(body)), **{n.replace("_", "-"): v for n, v in headers.items()}}, pieces()

    return answer


def drip_head(*, every: float) -> Responder:
    """The key set, its status line and headers sent one byte per ``every`` seconds, then the body at once.

    Each byte comes well within a read timeout, so only a deadline on the whole fetch ends the wait.
    """

    def answer(tenant: TenantServer) -> Raw:
        body = serve_keys(tenant)[2]
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()

        def pieces() -> Iterator[bytes]:
            for index in range(len(head)):
                yield head[index : index + 1]
                if tenant.pause(every):
                    return
            yield body

        return Raw(pieces())

    return answer


def stall(tenant: TenantServer, how: str) -> None:
    """Make ``tenant`` stall ``how``: ``silent`` (the request is read, nothing is ever sent back),
    ``dripping-head`` (``drip_head``) or ``dripping-body`` (the key set, by ``drip``)."""
    if how == "silent":
        tenant.hang()
    elif how == "dripping-head":
        tenant.respond = drip_head(every=DRIP_EVERY)
    else:
        tenant.respond = drip(jwk_set(*tenant.keys), every=DRIP_EVERY)
