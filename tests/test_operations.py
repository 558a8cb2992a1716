"""Production operations: refusing to start, health and readiness, metrics, gunicorn's settings, JSON logs,
and the production configuration behind a TLS-terminating proxy with PostgreSQL.

Real gunicorn, runserver and uvicorn processes run from the repository root (so ``gunicorn.conf.py``
applies), configured only by the environment, against stand-in tenants on loopback.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.cookies import Morsel, SimpleCookie
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from authn import conf, runtime
from authn.defaults import DEFAULTS
from authn.devissuer import DEV_AUDIENCE
from authn.dpop import MAX_PROOF_LENGTH
from tests.support.api import PRIVATE_MESSAGE, PUBLIC_MESSAGE
from tests.support.clock import SharedClock
from tests.support.network import free_port
from tests.support.servers import (
    ROOT,
    Server,
    assert_clean,
    halt,
    server_env,
    shared_clock_env,
    start,
    stop,
    tenant_env,
)
from tests.support.tenant import ISSUER, TenantServer, drip_head, serve, serve_keys, start_tenant
from tests.support.waiting import wait_for

DEADLINE = 20  # seconds a misconfigured server gets to refuse, start-up included
COOLDOWN = 1  # AUTH0_JWKS_COOLDOWN_SECONDS in tests/fast_keys_settings.py: a worker's wait before fetching again
FETCH_DEADLINE = 2  # AUTH0_JWKS_CONNECT_TIMEOUT + AUTH0_JWKS_READ_TIMEOUT there: how long one fetch may take

SERVE: dict[str, Callable[[int], list[str]]] = {
    "gunicorn": lambda port: [
        *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
        *("--bind", f"127.0.0.1:{port}", "--workers", "2"),
    ],
    # With its autoreloader (no --noreload): the reloader's parent must refuse too.
    "runserver": lambda port: [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
    "uvicorn": lambda port: [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port)],
}

# What every deployment behind a TLS-terminating proxy sets (with the tenant, REDIS_URL and DATABASE_URL).
BEHIND_PROXY = {
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "api.example.com,127.0.0.1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://api.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "FORWARDED_ALLOW_IPS": "127.0.0.1",
}
ADMIN = {"username": "ops-admin", "email": "ops@example.com", "password": "correct horse battery staple"}


# -- running servers -----------------------------------------------------------------------------


@dataclass
class Exit:
    returncode: int | None
    output: str
    listened: bool  # whether anything accepted a connection on the port while it ran, or after
    timed_out: bool


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def run_to_exit(command: list[str], env: dict[str, str], port: int) -> Exit:
    """Run a server that should refuse to start, knocking on its port all along; killed after ``DEADLINE``."""
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        knocks: list[bool] = []  # at each look until the process exits: whether its port accepted a connection

        def exited() -> bool:
            knocks.append(accepts_connections(port))
            return process.poll() is not None

        timed_out = not wait_for(exited, timeout=DEADLINE)
        if timed_out:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        listened = accepts_connections(port) or any(knocks)
        output.seek(0)
        return Exit(
            None if timed_out else process.returncode, output.read().decode(errors="replace"), listened, timed_out
        )


def json_lines(text: str) -> list[dict]:
    """Every non-empty line of a log, each parsed as JSON (fails on the first that is not)."""
    entries = []
    for line in text.splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"log line is not JSON: {line!r}")
    return entries


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failing_tenant(rsa_key) -> Iterator[TenantServer]:
    """A tenant whose key set answers 500 until a test sets ``respond = serve_keys``."""
    server = start_tenant(rsa_key)
    server.respond = serve(500, "down")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The HOME of every gunicorn here: gunicorn's shared control socket would be ``$HOME/.gunicorn/gunicorn.ctl``."""
    return tmp_path_factory.mktemp("home")


def gunicorn_env(env: dict[str, str], home: Path) -> dict[str, str]:
    env = {**env, "HOME": str(home)}
    env.pop("XDG_RUNTIME_DIR", None)  # else the control socket would go there
    return env


@pytest.fixture(scope="module")
def ops(tenant_server, home, tmp_path_factory) -> Iterator[Server]:
    """gunicorn, 2 workers of gunicorn.conf.py's defaults otherwise, with metrics on and JSON logs."""
    port = free_port()
    env = gunicorn_env(tenant_env(tenant_server) | {"METRICS_ENABLED": "true", "LOG_FORMAT": "json"}, home)
    served = start(SERVE["gunicorn"](port), env, tmp_path_factory.mktemp("ops") / "server.log", port)
    yield served
    stop(served)
    assert_clean(served.log_text())
    json_lines(served.log_text())  # shutting down included


@pytest.fixture(scope="module")
def cold_clock(tmp_path_factory) -> SharedClock:
    return SharedClock(tmp_path_factory.mktemp("cold-clock") / "clock")


@pytest.fixture(scope="module")
def cold(failing_tenant, cold_clock, home, tmp_path_factory) -> Iterator[Server]:
    """gunicorn, 2 workers, trusting ``failing_tenant``; nothing has asked for its keys yet. Metrics off.

    Its clock is ``cold_clock``: the recovery test moves it past the cooldown instead of waiting.
    """
    port = free_port()
    env = gunicorn_env(tenant_env(failing_tenant), home) | shared_clock_env(cold_clock)
    env.pop("METRICS_ENABLED", None)
    served = start(SERVE["gunicorn"](port), env, tmp_path_factory.mktemp("cold") / "server.log", port)
    yield served
    stop(served)
    assert_clean(served.log_text())


# -- refusing to start ---------------------------------------------------------------------------


def error_lines(output: str) -> list[str]:
    """The lines naming a system check error: each has the message and its hint, on that one line."""
    lines = [line for line in output.splitlines() if re.match(r"[a-z_.]+\.E\d+: ", line)]
    assert all(" HINT: " in line for line in lines), lines
    return lines


@pytest.mark.parametrize("command", sorted(SERVE))
def test_serving_misconfigured_exits_non_zero_before_listening_one_line_per_error(command, tenant_server):
    """Debug off without DJANGO_SECRET_KEY (a deploy check) and AUTH0_DOMAIN=https://x (a check of any run)."""
    env = tenant_env(tenant_server) | {"AUTH0_DOMAIN": "https://x"}
    del env["DJANGO_SECRET_KEY"]
    port = free_port()
    exited = run_to_exit(SERVE[command](port), env, port)
    assert not exited.timed_out, exited.output
    assert exited.returncode != 0
    errors = sorted(error_lines(exited.output))
    assert len(errors) == 2
    assert errors[0].startswith("authn.E001: AUTH0_DOMAIN must list bare host names: 'https://x'")
    assert "HINT: Give each tenant domain alone" in errors[0]
    assert errors[1].startswith("config.E001: DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off")
    assert "Refusing to serve: 2 system check error(s)." in exited.output
    assert not exited.listened


@pytest.mark.parametrize("command", ["runserver"])  # gunicorn: every server of this module; uvicorn: below
def test_serving_with_valid_production_config_starts(command, tenant_server, make_token, tmp_path):
    port = free_port()
    served = start(
        SERVE[command](port), tenant_env(tenant_server), tmp_path / "server.log", port, probe="/healthz", group=True
    )
    try:
        assert served.get("/api/public").json() == {"message": PUBLIC_MESSAGE}
        assert served.get("/api/private", make_token()).json() == {"message": PRIVATE_MESSAGE}
    finally:
        halt(served)
    assert f"Trusting Auth0 issuer {ISSUER}" in served.log_text()
    assert_clean(served.log_text())


def test_uvicorn_with_development_issuer_serves_minted_tokens(settings, tmp_path):
    port = free_port()
    served = start(
        SERVE["uvicorn"](port),
        server_env() | {"DJANGO_DEBUG": "true"},
        tmp_path / "server.log",
        port,
        probe="/healthz",
        group=True,
    )
    try:
        # The token the server's own development issuer accepts: its key file, relative to the repository root.
        settings.DEBUG, settings.AUTH0_DOMAIN, settings.AUTH0_AUDIENCE = True, [], []
        settings.AUTH0_ISSUER, settings.AUTH0_JWKS_URL = "", ""
        settings.AUTH0_DEV_KEY_FILE = ROOT / DEFAULTS["AUTH0_DEV_KEY_FILE"]
        token = runtime.dev_issuer().mint(audience=DEV_AUDIENCE, scope="read:messages")
        assert served.get("/api/public").json() == {"message": PUBLIC_MESSAGE}
        assert served.get("/api/private", token).json() == {"message": PRIVATE_MESSAGE}
    finally:
        halt(served)
    assert "Trusting the embedded DEVELOPMENT issuer" in served.log_text()
    assert_clean(served.log_text())


# -- /healthz and /readyz ------------------------------------------------------------------------

NEVER_CACHED = ("no-cache", "no-store", "must-revalidate", "max-age=0")


def assert_never_cached(response: requests.Response) -> None:
    cache_control = response.headers["Cache-Control"]
    assert all(directive in cache_control for directive in NEVER_CACHED), cache_control


def test_healthz_answers_200_json_never_cached_without_token(cold):
    for authorization in (None, "Bearer not-a-token", "Basic x"):
        headers = {"Authorization": authorization} if authorization else {}
        response = cold.get("/healthz", **headers)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.headers["Content-Type"] == "application/json"
        assert_never_cached(response)
    assert cold.get("/healthz/").status_code == 200


def ten_in_a_row(request: Callable[[], requests.Response], failure: str) -> requests.Response:
    """The tenth of ten 200s in a row from ``request()``, on whichever worker each lands."""
    in_a_row = 0

    def answered() -> requests.Response | None:
        nonlocal in_a_row
        response = request()
        in_a_row = in_a_row + 1 if response.status_code == 200 else 0
        return response if in_a_row == 10 else None

    response = wait_for(answered, timeout=10)
    assert response is not None, failure
    return response


def test_readyz_cold_server_with_failing_tenant_is_503_until_it_recovers(cold, cold_clock, failing_tenant):
    assert failing_tenant.fetches == 0  # cold: no worker has asked for the keys
    for _ in range(6):
        response = cold.get("/readyz", Authorization="Bearer not-a-token")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "issuers": {ISSUER: "no usable signing keys"}}
        assert_never_cached(response)
    assert 1 <= failing_tenant.fetches <= 2  # one fetch per worker, then the cooldown holds

    failing_tenant.respond = serve_keys
    cold_clock.advance(COOLDOWN)
    response = ten_in_a_row(lambda: cold.get("/readyz"), "/readyz did not become 200 on every worker")
    assert response.json() == {"status": "ready", "issuers": {ISSUER: "ready"}}
    assert_never_cached(response)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_health_endpoints_answer_other_methods_with_json_405(api, path, method):
    response = getattr(api, method)(path)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"


def test_readyz_debug_off_without_domain_is_503_nothing_trusted(settings, call):
    settings.DEBUG, settings.AUTH0_DOMAIN, settings.AUTH0_ISSUER, settings.AUTH0_JWKS_URL = False, [], "", ""
    response = call("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "no issuer is trusted" in response.json()["reason"]
    assert response.json()["issuers"] == {}


def test_readyz_can_answer_without_naming_issuers(tenant, settings, call, fake_time):
    settings.AUTH0_READYZ_ISSUERS = False
    tenant.respond = serve(500, "down")
    assert call("/readyz").json() == {"status": "unavailable"}
    tenant.respond = serve_keys
    fake_time.advance(DEFAULTS["AUTH0_JWKS_COOLDOWN_SECONDS"])
    assert call("/readyz").json() == {"status": "ready"}
    settings.DEBUG, settings.AUTH0_DOMAIN, settings.AUTH0_ISSUER, settings.AUTH0_JWKS_URL = False, [], "", ""
    assert call("/readyz").json() == {"status": "unavailable"}


def test_readyz_development_issuer_is_always_ready(dev_issuer, call):
    response = call("/readyz", authorization="Bearer not-a-token")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert set(response.json()["issuers"].values()) == {"ready"}


def test_schema_leaves_out_healthz_readyz_and_metrics(ops):
    paths = ops.get("/api/schema/?format=json").json()["paths"]
    assert paths
    assert not [path for path in paths if not path.startswith("/api/")]


# -- a tenant that drips its answer during a cold start ---------------------------------------------


@pytest.fixture
def dripping_tenant(rsa_key) -> Iterator[TenantServer]:
    """A tenant sending its status line and headers one byte per 0.3 s: every byte well within the read
    timeout, so only the whole fetch's deadline ends the wait (the body would come after some 30 s)."""
    server = start_tenant(rsa_key)
    server.respond = drip_head(every=0.3)
    yield server
    server.stop()


def timed_get(server: Server, path: str, token: str | None = None) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = server.get(path, token)
    return response, time.monotonic() - started


def test_gunicorn_cold_start_with_a_dripping_tenant_answers_503_within_the_deadline(
    dripping_tenant, home, make_token, shared_clock, tmp_path
):
    """Token requests get 503 within the fetch deadline + 1 s, /api/public answers in under a second all
    along, no worker is killed, and the next fetch once the tenant recovers succeeds."""
    port = free_port()
    env = gunicorn_env(tenant_env(dripping_tenant), home) | shared_clock_env(shared_clock)
    served = start(SERVE["gunicorn"](port), env, tmp_path / "server.log", port)
    token = make_token()
    try:
        # Three at once: fewer than a worker's four threads, wherever gunicorn puts them (a worker queues what
        # its busy threads cannot take, /api/public included, for as long as the fetch may last).
        with ThreadPoolExecutor(3) as pool:
            refused = [pool.submit(timed_get, served, "/api/private", token) for _ in range(3)]
            public = [timed_get(served, "/api/public")]
            while not all(future.done() for future in refused):
                public.append(timed_get(served, "/api/public"))
        for response, seconds in (future.result() for future in refused):
            assert response.status_code == 503
            assert response.json()["code"] == "jwks_unavailable"
            assert int(response.headers["Retry-After"]) >= 1
            assert seconds <= FETCH_DEADLINE + 1
        assert [response.status_code for response, _ in public] == [200] * len(public)
        assert max(seconds for _, seconds in public) < 1
        assert dripping_tenant.fetches >= 1

        dripping_tenant.respond = serve_keys  # recovered: the next fetch, after the cooldown, succeeds
        shared_clock.advance(COOLDOWN)
        ten_in_a_row(lambda: served.get("/api/private", token), "token requests were not accepted after recovery")
    finally:
        stop(served)
    log = served.log_text()
    assert "WORKER TIMEOUT" not in log
    assert log.count("Booting worker") == 2  # neither worker was killed and replaced
    assert_clean(log)


# -- metrics -------------------------------------------------------------------------------------


Samples = dict[tuple[str, frozenset], float]


def scrape(server: Server) -> Samples:
    """Every sample /metrics shows, by name and labels (whichever worker answers, it adds up all of them)."""
    response = server.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def increase(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_count_refusals_across_workers(ops):
    before = scrape(ops)
    for _ in range(10):  # each on a new connection, to whichever worker accepts it
        assert ops.get("/api/private", "x.y.z").json()["code"] == "invalid_header"
    for _ in range(8):  # each scrape too, and every one must count all 10
        assert increase(before, scrape(ops), "authn_refusals_total", code="invalid_header") == 10


def test_metrics_count_token_cache_and_key_fetches(ops, make_token):
    token = make_token(sub="auth0|metrics-cache")  # no worker has seen it
    before = scrape(ops)
    for _ in range(6):
        assert ops.get("/api/private", token).status_code == 200
    after = scrape(ops)
    hits = increase(before, after, "authn_token_cache_total", result="hit")
    misses = increase(before, after, "authn_token_cache_total", result="miss")
    assert hits + misses == 6
    assert 1 <= misses <= 2  # the first request on each worker
    assert value(after, "authn_jwks_fetches_total", outcome="success") >= 1


def test_metrics_latency_by_route_name_never_by_client_path(ops, make_token):
    latency = "http_request_duration_seconds_count"
    before = scrape(ops)
    assert ops.get("/api/private", make_token()).status_code == 200
    assert ops.get("/nowhere/xyz?q=1").status_code == 404
    after = scrape(ops)
    assert increase(before, after, latency, endpoint="private", method="GET") == 1
    assert increase(before, after, latency, endpoint="unmatched", method="GET") == 1
    assert not [labels for _, labels in after if "nowhere" in str(labels)]


def test_metrics_disabled_by_default_is_json_404(cold):
    response = cold.get("/metrics")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# -- gunicorn.conf.py ----------------------------------------------------------------------------


def gunicorn_config(env: dict[str, str]) -> dict[str, str]:
    """The settings gunicorn would run with from the repository root (``--print-config``), as text."""
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--print-config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=True,
    )
    settings = (line.split(" = ", 1) for line in printed.stdout.splitlines() if " = " in line)
    return {name.strip(): value.strip() for name, value in settings}


def test_gunicorn_config_reads_concurrency_proxies_and_log_level_from_environment(tenant_server):
    env = tenant_env(tenant_server) | {
        "WEB_CONCURRENCY": "3",
        "GUNICORN_THREADS": "7",
        "FORWARDED_ALLOW_IPS": "10.0.0.1,10.0.0.2",
        "LOG_LEVEL": "WARNING",
    }
    config = gunicorn_config(env)
    assert config["worker_class"] == "gthread"
    assert config["control_socket_disable"] == "True"
    assert (config["workers"], config["threads"]) == ("3", "7")
    assert config["forwarded_allow_ips"] == "['10.0.0.1', '10.0.0.2']"
    assert config["loglevel"] == "warning"


def junk_token(length: int) -> str:
    """A token-shaped string of ``length`` characters that no key verifies."""
    return "e30." + "A" * (length - 8) + ".AAA"


def signed_token(make_token, length: int) -> str:
    """A valid token of exactly ``length`` characters, padded by a claim (and a header member for the odd sizes)."""
    base = len(make_token(pad="", headers={"pad": ""}))
    estimate = (length - base) * 3 // 4
    for header_pad in range(4):
        for pad in range(estimate - 12, estimate + 12):
            token = make_token(pad="p" * pad, headers={"pad": "h" * header_pad})
            if len(token) == length:
                return token
    raise AssertionError(f"no token of {length} characters")


@pytest.mark.parametrize(
    "length",
    [
        # 8167 to 8192: accepted by authn's length limit, refused by gunicorn's default limit_request_field_size.
        pytest.param(8167, id="8167"),
        pytest.param(8180, id="8180"),
        pytest.param(8192, id="8192-max-length"),
        pytest.param(8193, id="8193-one-over"),
        pytest.param(9000, id="9000"),
        pytest.param(12000, id="12000"),
        pytest.param(16000, id="16000"),
    ],
)
def test_gunicorn_token_up_to_twice_max_length_gets_json_401(ops, length):
    response = ops.get("/api/private", junk_token(length))
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == "invalid_header"


def test_gunicorn_valid_token_of_max_length_is_accepted(ops, make_token):
    token = signed_token(make_token, conf.get().max_token_length)
    assert ops.get("/api/private", token).json() == {"message": PRIVATE_MESSAGE}


# What a browser sends besides the credentials: a few KiB of cookies and the usual negotiation headers.
BROWSER_HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-GB,en;q=0.9,fr;q=0.8,de;q=0.7",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Origin": "https://app.example.com",
    "Referer": "https://app.example.com/messages/inbox",
    "Cookie": "; ".join(f"c{index}={'v' * 400}" for index in range(16)),
}


def padded_proof(key, token: str, url: str, length: int) -> str:
    """A valid DPoP proof of ``token`` for ``GET url``, padded by a claim to exactly ``length`` characters."""
    for pad in range(length * 3 // 4 - 400, length * 3 // 4):
        proof = key.proof("GET", url, token=token, pad="p" * pad)
        if len(proof) == length:
            return proof
    raise AssertionError(f"no proof of {length} characters")


def raw_exchange(server: Server, head: bytes) -> tuple[bytes, bool]:
    """What the server answers to ``head``, sent whole on a connection of its own, and whether it then closed
    that connection: a second request on it gets no answer."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head)
        answer = b""
        while not answered(answer) and (chunk := connection.recv(65536)):
            answer += chunk
        assert answered(answer), answer
        try:
            connection.sendall(b"GET /api/public HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            closed = connection.recv(65536) == b""
        except (BrokenPipeError, ConnectionResetError):
            closed = True
    return answer, closed


def answered(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response: its head, and as much body as its Content-Length says."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    return bool(separator) and length is not None and len(body) >= int(length[1])


def test_gunicorn_header_block_past_its_total_limit_is_refused_by_gunicorn_and_the_connection_closed(ops):
    # Six fields of 8 KiB: each within gunicorn's field size and their number within its field count;
    # together past the bound on all of a request's header fields, so gunicorn never hands it to Django.
    fields = b"".join(b"X-Filler-%d: %s\r\n" % (index, b"f" * 8192) for index in range(6))
    answer, closed = raw_exchange(ops, b"GET /api/public HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields + b"\r\n")
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 431 ")
    assert b"application/json" not in rest.partition(b"\r\n\r\n")[0].lower()  # gunicorn's own answer
    assert closed


def test_gunicorn_browser_request_with_the_longest_token_still_gets_json_401(ops):
    response = requests.get(
        ops.url + "/api/private",
        headers={**BROWSER_HEADERS, "Authorization": f"Bearer {junk_token(16000)}", "DPoP": "p" * MAX_PROOF_LENGTH},
        timeout=15,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_header"


def test_gunicorn_browser_dpop_request_of_max_length_token_and_proof_is_served(ops, make_token, key):
    token = signed_token(functools.partial(make_token, cnf={"jkt": key.thumbprint}), conf.get().max_token_length)
    proof = padded_proof(key, token, ops.url + "/api/private", MAX_PROOF_LENGTH)
    headers = {**BROWSER_HEADERS, "Authorization": f"DPoP {token}", "DPoP": proof}
    response = requests.get(ops.url + "/api/private", headers=headers, timeout=15)
    assert response.json() == {"message": PRIVATE_MESSAGE}


def test_gunicorn_access_log_never_records_query_strings(ops):
    marker = os.urandom(8).hex()
    assert ops.get(f"/nowhere-{marker}?secret={marker}-value").status_code == 404
    # The access line (path, space, protocol) is written after the response.
    assert wait_for(lambda: f"/nowhere-{marker} " in ops.log_text(), timeout=5), "no access log line"
    lines = [line for line in ops.log_text().splitlines() if marker in line]
    assert any(f"/nowhere-{marker} " in line for line in lines)
    assert not [line for line in lines if "secret" in line or f"{marker}-value" in line]


def read_by_server(port: int, client: socket.socket) -> bool:
    """Whether the server listening on ``port`` has read all that ``client`` sent: its end of the connection
    has nothing left in its receive queue (/proc/net/tcp; local and remote port identify it)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        _, local, remote, _, queues = line.split()[:5]
        if int(local.rpartition(":")[2], 16) == port and int(remote.rpartition(":")[2], 16) == client.getsockname()[1]:
            return int(queues.rpartition(":")[2], 16) == 0
    return False


def test_gunicorn_slow_clients_do_not_stall_the_api(ops):
    host, port = ops.url.removeprefix("http://").split(":")
    slow = [socket.create_connection((host, int(port)), timeout=5) for _ in range(2)]
    try:
        for connection in slow:  # half a request, then nothing
            connection.sendall(b"GET /api/public HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        # Each half request read by the server, so each holds what serves it (a sync worker, a thread).
        assert wait_for(lambda: all(read_by_server(int(port), connection) for connection in slow), timeout=5)
        for _ in range(6):  # sync workers would each wait for the rest of a request: 30 s, gunicorn's timeout
            started = time.monotonic()
            assert requests.get(ops.url + "/api/public", timeout=2).status_code == 200
            assert time.monotonic() - started < 2
    finally:
        for connection in slow:
            connection.close()


def test_gunicorn_two_instances_share_no_control_socket(ops, cold, home):
    assert ops.get("/api/public").status_code == 200
    assert cold.get("/api/public").status_code == 200
    assert not (home / ".gunicorn").exists()
    assert not list(home.rglob("*.ctl"))


# -- LOG_FORMAT=json -----------------------------------------------------------------------------


def test_json_logs_every_line_is_an_object_with_refusal_fields(ops, make_token):
    assert ops.get("/api/private").status_code == 401
    assert ops.get("/api/private", make_token()).status_code == 200
    assert ops.get("/api/public?x=1").status_code == 200
    text = ops.log_text()
    complete = text if text.endswith("\n") else text.rsplit("\n", 1)[0]  # a line may be half written
    entries = json_lines(complete)
    assert entries
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    refusals = [entry for entry in entries if entry["logger"] == "authn" and "code" in entry]
    assert refusals
    assert all({"status", "code", "path"} <= set(entry) for entry in refusals)
    assert any(entry["logger"] == "gunicorn.access" for entry in entries)


# -- behind a TLS-terminating proxy, with PostgreSQL ------------------------------------------------


@pytest.fixture(scope="module")
def production_env(tenant_server, postgres_server, redis_server) -> dict[str, str]:
    database_url = postgres_server.create_database()
    return tenant_env(tenant_server) | BEHIND_PROXY | {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def production(production_env, home, tmp_path_factory) -> Iterator[Server]:
    migrated = manage(production_env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    superuser = {f"DJANGO_SUPERUSER_{name.upper()}": value for name, value in ADMIN.items()}
    creating = subprocess.Popen(  # while the server starts: hashing the password takes a while
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=ROOT,
        env=production_env | superuser,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    port = free_port()
    log = tmp_path_factory.mktemp("production") / "server.log"
    served = start(SERVE["gunicorn"](port), gunicorn_env(production_env, home), log, port, probe="/healthz", group=True)
    output = creating.communicate(timeout=60)[0]
    assert creating.returncode == 0, output
    yield served
    halt(served)
    assert_clean(served.log_text())


def through_proxy(
    server: Server, method: str, path: str, cookies: dict[str, str] | None = None, **kwargs
) -> requests.Response:
    """A request as the TLS proxy forwards it: the public Host, X-Forwarded-Proto: https."""
    headers = {"Host": "api.example.com", "X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return requests.request(method, server.url + path, headers=headers, timeout=15, allow_redirects=False, **kwargs)


def set_cookies(response: requests.Response) -> dict[str, Morsel]:
    """The cookies a response sets, with their attributes (requests' jar would not send Secure ones over http)."""
    jar = SimpleCookie()
    for header in response.raw.headers.getlist("Set-Cookie"):
        jar.load(header)
    return dict(jar)


def test_production_admin_login_through_proxy(production):
    login_page = through_proxy(production, "GET", "/admin/login/?next=/admin/")
    assert login_page.status_code == 200
    assert login_page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    csrf_cookie = set_cookies(login_page)["csrftoken"]
    assert csrf_cookie["secure"]
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)

    logged_in = through_proxy(
        production,
        "POST",
        "/admin/login/?next=/admin/",
        cookies={"csrftoken": csrf_cookie.value},
        headers={"Referer": "https://api.example.com/admin/login/"},
        data={"csrfmiddlewaretoken": form_token, "username": ADMIN["username"], "password": ADMIN["password"]},
    )
    assert logged_in.status_code == 302, logged_in.text[:2000]
    assert logged_in.headers["Location"] == "/admin/"
    session_cookie = set_cookies(logged_in)["sessionid"]
    assert session_cookie["secure"]
    assert session_cookie["httponly"]

    admin = through_proxy(production, "GET", "/admin/", cookies={"sessionid": session_cookie.value})
    assert admin.status_code == 200
    assert ADMIN["username"] in admin.text


def test_production_login_without_csrf_cookie_is_refused(production):
    refused = through_proxy(
        production,
        "POST",
        "/admin/login/",
        headers={"Referer": "https://api.example.com/admin/login/"},
        data={"username": ADMIN["username"], "password": ADMIN["password"]},
    )
    assert refused.status_code == 403


def test_production_plain_http_redirects_to_https_but_probes_answer(production):
    redirected = production.get("/api/public", Host="api.example.com")
    assert redirected.status_code == 301
    assert redirected.headers["Location"] == "https://api.example.com/api/public"
    assert production.get("/healthz", Host="api.example.com").status_code == 200
    assert production.get("/readyz").status_code == 200
    assert through_proxy(production, "GET", "/api/public").json() == {"message": PUBLIC_MESSAGE}


def test_production_configuration_passes_check_deploy_without_warnings(production_env):
    checked = manage(production_env, "check", "--deploy", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stderr
    assert "System check identified no issues (0 silenced)." in checked.stdout


def test_production_token_through_proxy_is_accepted(production, make_token):
    response = through_proxy(production, "GET", "/api/private", headers={"Authorization": f"Bearer {make_token()}"})
    assert response.json() == {"message": PRIVATE_MESSAGE}
