"""A stand-in Auth0 tenant on loopback: a real HTTP server whose behaviour tests switch."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JWKS_PATH = "/.well-known/jwks.json"


class TenantServer:
    """Serves ``keys`` as a JWK Set at ``JWKS_PATH``; counts every request it answers.

    Switch its behaviour by assigning ``respond``: a callable taking the server
    and returning ``(status, headers, body)``, or ``None`` to drop the connection.
    ``hang`` makes every request wait until ``release()`` (or server shutdown).
    """

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.respond: Callable[[TenantServer], tuple[int, dict[str, str], bytes] | None] = serve_keys
        self.requests: list[dict[str, str]] = []  # headers of each request, in order
        self._release = threading.Event()
        self._release.set()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    @property
    def fetches(self) -> int:
        with self._lock:
            return len(self.requests)

    def hang(self) -> None:
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def start(self) -> TenantServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()

    def wait_for_fetches(self, count: int, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while self.fetches < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.fetches

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with tenant._lock:
                    tenant.requests.append(dict(self.headers.items()))
                tenant._release.wait()
                answer = tenant.respond(tenant)
                if answer is None:
                    self.close_connection = True
                    return
                status, headers, body = answer
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def serve_keys(tenant: TenantServer) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps({"keys": tenant.keys}).encode()


def serve(status: int, body: bytes | str = b"", **headers: str) -> Callable[[TenantServer], tuple]:
    """A fixed answer, e.g. ``serve(500, "oops")`` or ``serve(302, Location="http://...")``."""
    payload = body.encode() if isinstance(body, str) else body
    return lambda _tenant: (status, {name.replace("_", "-"): value for name, value in headers.items()}, payload)
