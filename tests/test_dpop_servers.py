"""DPoP against real gunicorn servers sharing a real Redis, as production runs it.

Two servers (two workers of two threads each) share one private redis-server
through ``REDIS_URL`` and one ``DJANGO_SECRET_KEY``: a proof accepted once is
refused by every worker of every server; without Redis, DPoP requests fail
closed while Bearer ones go on; a nonce one server issues, the other accepts.
A server started without ``REDIS_URL`` at all keeps its proofs in authn's
replay store, which both its workers share.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.api import PUBLIC_MESSAGE, SCOPED_MESSAGE
from tests.support.network import free_port
from tests.support.servers import Server, assert_clean, start, stop, tenant_env
from tests.support.tenant import TenantServer
from tests.support.waiting import wait_for

PATH = "/api/private-scoped"
# gunicorn's access log with the worker's pid (%(p)s), so a test can tell which worker answered.
ACCESS_LOG = 'pid=%(p)s "%(m)s %(U)s %(H)s" %(s)s'
SERVED_BY = re.compile(r'pid=<(\d+)> "GET /api/private-scoped HTTP/1\.1" (\d{3})')


def gunicorn(port: int, workers: int = 2) -> list[str]:
    return [
        *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
        *("--workers", str(workers), "--threads", "2", "--bind", f"127.0.0.1:{port}"),
        *("--access-logformat", ACCESS_LOG),
    ]


@dataclass
class Servers:
    """Two servers sharing Redis and a secret, and two more with server nonces on."""

    replay: list[Server]
    nonce: list[Server]


def shared_env(tenant: TenantServer, redis_url: str, **overrides: str) -> dict[str, str]:
    """One environment for every server of a pair: the same tenant, Redis and DJANGO_SECRET_KEY."""
    return {**tenant_env(tenant), "REDIS_URL": redis_url, **overrides}


@pytest.fixture(scope="module")
def servers(tenant_server, redis_server, tmp_path_factory) -> Iterator[Servers]:
    """All four started side by side (each from the repo root, as ``start`` runs them), stopped likewise.

    Nonces need no shared state, so the nonce pair makes do with one worker each.
    """
    directory = tmp_path_factory.mktemp("dpop-servers")
    plain_env = shared_env(tenant_server, redis_server.url)
    nonce_env = shared_env(tenant_server, redis_server.url, AUTH0_DPOP_NONCE="true")
    plans = [(plain_env, 2), (plain_env, 2), (nonce_env, 1), (nonce_env, 1)]
    with ThreadPoolExecutor(len(plans)) as pool:
        ports = [free_port() for _ in plans]
        futures = [
            pool.submit(start, gunicorn(port, workers), env, directory / f"{port}.log", port)
            for port, (env, workers) in zip(ports, plans, strict=True)
        ]
        wait(futures)
        started = [future.result() for future in futures if future.exception() is None]
        try:
            for future in futures:
                future.result()  # the first server that did not start fails the fixture, once all are stopped
            yield Servers(replay=started[:2], nonce=started[2:])
        finally:
            list(pool.map(stop, started))
    for server in started:
        assert_clean(server.log_text())


@pytest.fixture(autouse=True)
def _redis_running(redis_server) -> Iterator[None]:
    """Whatever a test does to Redis, the next one finds it running."""
    yield
    redis_server.start()


def dpop_get(server: Server, token: str, proof: str | None, **headers: str) -> requests.Response:
    """A DPoP request on a connection of its own (so the listening socket hands it to either worker)."""
    headers = {"Authorization": f"DPoP {token}", **headers}
    if proof is not None:
        headers["DPoP"] = proof
    return requests.get(server.url + PATH, headers=headers, timeout=15)


def url_of(server: Server) -> str:
    return server.url + PATH


def assert_refused(response: requests.Response, status: int, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code)


def wait_for_log(server: Server, offset: int, pattern: re.Pattern[str], count: int) -> list[str]:
    """The matches of ``pattern`` logged past ``offset``, once there are ``count`` (gunicorn logs after answering)."""
    found: list[str] = []

    def logged() -> bool:
        found[:] = pattern.findall(server.log_text()[offset:])
        return len(found) >= count

    wait_for(logged, timeout=5)
    return found


def answered_by_both_workers(
    server: Server, request: Callable[[], requests.Response], status: int, code: str | None = None
) -> None:
    """Sends ``request()`` until both workers have answered it (each on a new connection), always alike."""
    offset = len(server.log_text())
    for sent in range(1, 41):
        response = request()
        assert response.status_code == status
        assert code is None or response.json()["code"] == code
        if len({pid for pid, _ in wait_for_log(server, offset, SERVED_BY, sent)}) == 2:
            return
    pytest.fail(f"40 requests never reached the second worker of {server.url}")


def test_valid_proof_is_accepted_once_by_every_worker(servers, key, bound_token):
    first = servers.replay[0]
    proof = key.proof("GET", url_of(first), token=bound_token)
    response = dpop_get(first, bound_token, proof)
    assert response.status_code == 200
    assert response.json() == {"message": SCOPED_MESSAGE}
    answered_by_both_workers(first, lambda: dpop_get(first, bound_token, proof), 401, "invalid_dpop_proof")


def test_replay_to_another_server_with_the_same_host_is_refused(servers, key, bound_token):
    first, second = servers.replay
    as_first = {"Host": first.url.removeprefix("http://")}  # the second server serves the first one's URL
    fresh = key.proof("GET", url_of(first), token=bound_token)
    assert dpop_get(second, bound_token, fresh, **as_first).status_code == 200  # that URL is accepted there
    proof = key.proof("GET", url_of(first), token=bound_token)
    assert dpop_get(first, bound_token, proof).status_code == 200
    response = dpop_get(second, bound_token, proof, **as_first)
    assert_refused(response, 401, "invalid_dpop_proof")
    assert response.headers["WWW-Authenticate"] == 'DPoP error="invalid_dpop_proof", algs="ES256"'


def test_two_dpop_header_lines_are_refused(servers, key, bound_token):
    """Sent as two lines (the WSGI server joins them), each a valid proof: not exactly one proof."""
    server = servers.replay[0]
    connection = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=15)
    try:
        connection.putrequest("GET", PATH)
        connection.putheader("Authorization", f"DPoP {bound_token}")
        for _ in range(2):
            connection.putheader("DPoP", key.proof("GET", url_of(server), token=bound_token))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 401
        assert json.loads(response.read())["code"] == "invalid_dpop_proof"
    finally:
        connection.close()


def test_bound_token_as_bearer_is_refused(servers, make_token, bound_token):
    response = servers.replay[0].get(PATH, bound_token)
    assert_refused(response, 401, "invalid_header")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token", DPoP algs="ES256"'
    assert servers.replay[1].get(PATH, make_token()).status_code == 200


def test_without_redis_dpop_fails_closed_and_bearer_goes_on(servers, redis_server, make_token, key, bound_token):
    server = servers.replay[0]
    assert dpop_get(server, bound_token, key.proof("GET", url_of(server), token=bound_token)).status_code == 200
    offset = len(server.log_text())
    redis_server.stop()
    started = time.monotonic()
    proof = key.proof("GET", url_of(server), token=bound_token)
    response = dpop_get(server, bound_token, proof)
    assert time.monotonic() - started < 5  # fails fast (1 s socket timeouts), never hangs
    assert_refused(response, 503, "replay_cache_unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response.headers
    assert server.get(PATH, make_token()).status_code == 200
    assert server.get("/api/public").json() == {"message": PUBLIC_MESSAGE}
    [warning] = wait_for_log(server, offset, re.compile(r".* WARNING .*"), 1)
    assert "refused status=503 code=replay_cache_unavailable" in warning
    assert "scheme='dpop'" in warning
    assert proof not in server.log_text()
    assert bound_token not in server.log_text()
    assert_clean(server.log_text())

    redis_server.start()
    answered_by_both_workers(
        server, lambda: dpop_get(server, bound_token, key.proof("GET", url_of(server), token=bound_token)), 200
    )


@pytest.fixture(scope="module")
def host_store_server(tenant_server, tmp_path_factory) -> Iterator[Server]:
    """Two workers configured as a new user runs them: no REDIS_URL, so authn's replay store on this host."""
    port = free_port()
    env = {**tenant_env(tenant_server), "REDIS_URL": ""}
    server = start(gunicorn(port, workers=2), env, tmp_path_factory.mktemp("host-store") / "server.log", port)
    yield server
    stop(server)
    assert_clean(server.log_text())


def test_proof_sent_to_both_workers_without_redis_is_accepted_once(host_store_server, key, bound_token):
    """Each worker once kept a cache of its own: the same proof was accepted by each."""
    server = host_store_server
    proof = key.proof("GET", url_of(server), token=bound_token)
    offset, statuses = len(server.log_text()), []
    while len(statuses) < 20 or len({pid for pid, _ in wait_for_log(server, offset, SERVED_BY, len(statuses))}) < 2:
        if len(statuses) == 60:
            pytest.fail(f"60 requests never reached the second worker of {server.url}")
        statuses.append(dpop_get(server, bound_token, proof).status_code)  # a new connection each
    assert sorted(statuses) == [200] + [401] * (len(statuses) - 1)


def test_proof_sent_to_both_workers_at_once_without_redis_is_accepted_once(host_store_server, key, bound_token):
    """Sixteen copies of a proof in flight together, over both workers' threads: one test-and-set wins. Each round
    a new proof, until one round reached both workers (one worker may take all sixteen)."""
    server = host_store_server
    with ThreadPoolExecutor(16) as pool:
        for _ in range(10):
            proof = key.proof("GET", url_of(server), token=bound_token)
            offset = len(server.log_text())
            copies = [proof] * 16
            statuses = [response.status_code for response in pool.map(partial(dpop_get, server, bound_token), copies)]
            assert sorted(statuses) == [200] + [401] * 15
            if len({pid for pid, _ in wait_for_log(server, offset, SERVED_BY, 16)}) == 2:
                return
    pytest.fail(f"ten rounds of sixteen requests never reached both workers of {server.url}")


def test_nonce_issued_by_one_server_is_accepted_by_the_other(servers, key, bound_token):
    first, second = servers.nonce
    asked = dpop_get(first, bound_token, key.proof("GET", url_of(first), token=bound_token))
    assert_refused(asked, 401, "use_dpop_nonce")
    assert asked.headers["WWW-Authenticate"] == 'DPoP error="use_dpop_nonce", algs="ES256"'
    nonce = asked.headers["DPoP-Nonce"]
    answered = dpop_get(second, bound_token, key.proof("GET", url_of(second), token=bound_token, nonce=nonce))
    assert answered.status_code == 200
    nonce = answered.headers["DPoP-Nonce"]  # and back: the nonce of the second is good on the first
    back = dpop_get(first, bound_token, key.proof("GET", url_of(first), token=bound_token, nonce=nonce))
    assert back.status_code == 200
