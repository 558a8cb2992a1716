"""The example project served for real, configured only by the environment: the processes tests start.

``start(COMMANDS["gunicorn"](port), env, log, port)`` runs a server from the repository root (so
gunicorn.conf.py applies, as in production) and returns once its probe answers 200; ``stop`` (or ``halt``
for a process group) ends it. ``server_env`` is a production-like environment, ``tenant_env`` one trusting
a stand-in tenant, ``shared_clock_env`` one whose trust layer reads a ``SharedClock``. ``assert_clean``
checks a log for tracebacks and 500s.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.checkout import ROOT
from tests.support.clock import CLOCK_FILE, SharedClock
from tests.support.tenant import AUDIENCE, ISSUER, TenantServer
from tests.support.waiting import wait_for

STARTUP_TIMEOUT = 60  # seconds a server gets to answer its probe
# The environment variables the project's settings and gunicorn.conf.py read: a server gets only those it is given.
PROJECT_VARIABLES = (
    *("AUTH0_", "DJANGO_", "CORS_", "API_DOCS_", "REDIS_URL", "DATABASE_URL", "LOG_", "METRICS_"),
    *("GUNICORN_", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS"),
)


@dataclass
class Server:
    """A server process answering on loopback at ``url``, its output in ``log``."""

    url: str
    process: subprocess.Popen
    log: Path

    def get(self, path: str, token: str | None = None, **headers: str) -> requests.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(self.url + path, headers=headers, timeout=15, allow_redirects=False)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start(
    command: list[str], env: dict[str, str], log: Path, port: int, *, probe: str = "/api/public", group: bool = False
) -> Server:
    """The server ``command`` starts, once ``probe`` answers 200; with ``group``, in a process group of its own
    (runserver's reloader has a child), stopped with ``halt``."""
    with log.open("w") as log_file:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=group
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    if wait_until_serving(server, probe):
        return server
    if group:
        halt(server)
    else:
        stop(server)
    pytest.fail(f"server did not answer within {STARTUP_TIMEOUT} s:\n{server.log_text()}")


def wait_until_serving(server: Server, probe: str) -> bool:
    """Whether ``probe`` answered 200 within ``STARTUP_TIMEOUT``; fails at once if the server exits."""

    def answers() -> bool:
        if server.process.poll() is not None:
            pytest.fail(f"server exited early:\n{server.log_text()}")
        try:
            return server.get(probe).status_code == 200
        except requests.ConnectionError:
            return False

    return wait_for(answers, timeout=STARTUP_TIMEOUT)


def assert_clean(log: str) -> None:
    """No traceback and no 500 in a server's log (Django's error logger, runserver's access log)."""
    assert "Traceback" not in log
    assert "Internal Server Error" not in log
    assert '" 500 ' not in log


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def halt(server: Server) -> None:
    """Stop a server started with ``group`` and every process of its group (gone already: nothing to do)."""
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        server.process.wait()
        return
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def server_env(**overrides: str) -> dict[str, str]:
    """A production-like environment: this process's without the project's own settings, debug off, a secret
    made for the server; ``overrides`` added."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(PROJECT_VARIABLES)}
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        CORS_ALLOWED_ORIGINS="https://app.example.com",
        PYTHONUNBUFFERED="1",
        **overrides,
    )
    return env


def tenant_env(tenant: TenantServer) -> dict[str, str]:
    """The environment of a server trusting ``tenant``, as conftest's ``tenant`` fixture configures it."""
    return server_env(
        AUTH0_DOMAIN="tenant.example.com", AUTH0_ISSUER=ISSUER, AUTH0_AUDIENCE=AUDIENCE, AUTH0_JWKS_URL=tenant.jwks_url
    )


def shared_clock_env(clock: SharedClock) -> dict[str, str]:
    """What makes a server read ``clock``, with the key policy of tests/fast_keys_settings.py."""
    return {"DJANGO_SETTINGS_MODULE": "tests.fast_keys_settings", CLOCK_FILE: str(clock.path)}


GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4
# The WSGI servers, by name: what each runs for a port. One more option of gunicorn's overrides its own here
# (``[*COMMANDS["gunicorn"](port), "--workers", "1"]``): the last of each option wins.
COMMANDS = {
    "gunicorn": lambda port: [
        *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
        *("--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS), "--bind", f"127.0.0.1:{port}"),
    ],
    "runserver": lambda port: [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
}


def uvicorn_command(port: int) -> list[str]:
    """One uvicorn worker serving the project's ASGI application (config/asgi.py) on ``port``."""
    return [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--workers", "1"]
