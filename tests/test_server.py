"""The API as a new user runs it: gunicorn and runserver, configured only by the environment.

A stand-in tenant on loopback publishes the keys; every request goes over a
real socket; the server's log must never show a 500 or a traceback.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.api import PRIVATE_MESSAGE, PUBLIC_MESSAGE, SCOPED_MESSAGE
from tests.support.network import free_port
from tests.support.servers import COMMANDS, Server, assert_clean, server_env, shared_clock_env, start, stop, tenant_env
from tests.support.tenant import AUDIENCE, ISSUER, TenantServer, public_jwk, serve, serve_keys, start_tenant
from tests.support.waiting import wait_for


@pytest.fixture(scope="module", params=sorted(COMMANDS))
def server(request, tenant_server, tmp_path_factory) -> Iterator[Server]:
    port = free_port()
    env = tenant_env(tenant_server)
    log = tmp_path_factory.mktemp(request.param) / "server.log"
    served = start(COMMANDS[request.param](port), env, log, port)
    yield served
    stop(served)
    assert_clean(served.log_text())


def test_server_announces_the_trusted_issuer(server):
    assert f"Trusting Auth0 issuer {ISSUER}" in server.log_text()


def test_server_answers_every_endpoint(server, make_token):
    assert server.get("/api/public").json() == {"message": PUBLIC_MESSAGE}
    assert server.get("/api/private/", make_token(scope="")).json() == {"message": PRIVATE_MESSAGE}
    assert server.get("/api/private-scoped", make_token()).json() == {"message": SCOPED_MESSAGE}
    assert requests.head(server.url + "/api/public", timeout=5).status_code == 200


@pytest.mark.parametrize("path", ["/api/public", "/api/private-scoped", "/api/private", "/healthz", "/nowhere"])
def test_server_head_is_get_without_its_body(server, make_token, path):
    """HEAD answers GET's status and headers with no body, and the server logs no complaint about one."""
    headers = {"Authorization": f"Bearer {make_token()}"} if path != "/api/private" else {}
    get = requests.get(server.url + path, headers=headers, timeout=5)
    with socket.create_connection(("127.0.0.1", int(server.url.rpartition(":")[2])), timeout=5) as connection:
        request = f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        request += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        connection.sendall(f"{request}\r\n".encode())
        raw = b"".join(iter(lambda: connection.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(get.status_code).encode()
    assert body == b""
    assert f"Content-Length: {len(get.content)}".encode() in head
    assert "body bytes on a no-body response" not in server.log_text()


def test_server_refusals_answer_status_code_and_challenge(server, make_token):
    cases = [
        (server.get("/api/private"), 401, "authorization_header_missing", 'Bearer realm="api"'),
        (server.get("/api/private", Authorization="Basic x"), 401, "invalid_header", 'error="invalid_request"'),
        (server.get("/api/private", "x.y.z"), 401, "invalid_header", 'error="invalid_token"'),
        (server.get("/api/private", make_token(exp=1)), 401, "token_expired", 'error="invalid_token"'),
        (server.get("/api/private", make_token(aud="https://x")), 401, "invalid_claims", 'error="invalid_token"'),
        (server.get("/api/private-scoped", make_token(scope="")), 403, "insufficient_scope", 'scope="read:messages"'),
    ]
    for response, status, code, challenge in cases:
        assert (response.status_code, response.json()["code"]) == (status, code)
        assert challenge in response.headers["WWW-Authenticate"]
        assert response.headers["Content-Type"] == "application/json"


def test_server_other_methods_are_405(server, make_token):
    response = requests.post(server.url + "/api/private", timeout=5, headers={"Authorization": "Bearer x"})
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_server_unknown_path_is_json_404(server):
    response = server.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "description": "Not found."}


@pytest.mark.parametrize("host", ["evil.example.com", "bad host!", "127.0.0.1:1:2"])
def test_server_unknown_host_is_json_400_without_traceback(server, host):
    response = server.get("/api/public", Host=host)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


def test_server_cors_preflight(server):
    response = requests.options(
        server.url + "/api/private-scoped",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


HOSTILE_HEADERS = [
    "Bearer " + "A" * 7000,
    "Bearer " + "." * 50,
    "Bearer ..",
    "Bearer e30.e30.",
    "Bearer eyJhbGciOiJub25lIn0.e30.",
    "Bearer \u00e9\u00e8.\u00ff.x",
    "Bearer a.b.c.d.e",
    "bearer\ttab.separated.token",
    "Bearer " + "[" * 3000,
    "Bearer %00%0d%0a",
]


def test_server_hostile_headers_never_500(server):
    for header in HOSTILE_HEADERS:
        response = requests.get(
            server.url + "/api/private-scoped",
            headers={"Authorization": header.encode("utf-8")},
            timeout=10,
        )
        assert response.status_code in (400, 401, 431), header
        if response.status_code == 401:
            assert set(response.json()) == {"code", "description"}


@pytest.fixture(scope="module")
def https_tenant_server(rsa_key, certificate_authority) -> Iterator[TenantServer]:
    server = start_tenant(rsa_key, certificate_authority)
    yield server
    server.stop()


@pytest.mark.parametrize("ca_variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_server_trusts_https_tenant_derived_from_domain_alone(
    https_tenant_server, certificate_authority, make_token, tmp_path, ca_variable
):
    domain = https_tenant_server.url.removeprefix("https://")
    env = server_env(AUTH0_DOMAIN=domain, AUTH0_AUDIENCE=AUDIENCE)
    env.pop("SSL_CERT_FILE", None)
    env.pop("REQUESTS_CA_BUNDLE", None)
    env[ca_variable] = str(certificate_authority["ca"])
    port = free_port()
    served = start([*COMMANDS["gunicorn"](port), "--workers", "1"], env, tmp_path / "server.log", port)
    try:
        issuer = f"https://{domain}/"
        assert served.get("/api/private-scoped", make_token(iss=issuer)).status_code == 200
        assert served.get("/api/private-scoped", make_token()).json()["code"] == "invalid_claims"
        assert https_tenant_server.requests[-1]["User-Agent"].startswith("drf-auth0-authn/")
    finally:
        stop(served)
    assert f"Trusting Auth0 issuer {issuer}" in served.log_text()
    assert f"(keys from {issuer}.well-known/jwks.json)" in served.log_text()
    assert_clean(served.log_text())


def test_server_survives_a_misbehaving_tenant(rsa_key, other_rsa_key, make_token, shared_clock, tmp_path):
    """gunicorn (2 workers x 4 threads) with the key policy shortened (tests/fast_keys_settings.py: a 1 s
    cooldown, a 1 + 1 s fetch deadline) and its clock the test's; the tenant fails in every way in turn."""
    tenant = start_tenant(rsa_key)
    port = free_port()
    env = tenant_env(tenant) | shared_clock_env(shared_clock)
    cooldown, deadline_seconds = 1, 2
    served = start(COMMANDS["gunicorn"](port), env, tmp_path / "server.log", port)
    try:
        token = make_token()
        deadline = time.monotonic() + 20
        while tenant.fetches < 2:  # until both workers hold the key set
            assert served.get("/api/private-scoped", token).status_code == 200
            assert time.monotonic() < deadline, "a worker never fetched the key set"

        shared_clock.advance(cooldown)  # a refetch is allowed again: the next unknown kid tries one
        for outage in (serve(500, "down"), serve(200, "<html>"), serve(200, '{"keys": []}'), lambda _t: None):
            tenant.respond = outage
            assert served.get("/api/private-scoped", token).status_code == 200  # cached key: unaffected
            stranger = served.get("/api/private", make_token(kid="unknown-kid"))
            assert stranger.status_code in (401, 503)  # 503 once this worker's refetch has failed
            if stranger.status_code == 503:
                assert int(stranger.headers["Retry-After"]) >= 1
        assert "JWKS fetch failed" in served.log_text()

        tenant.respond = serve_keys
        tenant.hang()
        shared_clock.advance(cooldown)
        started = time.monotonic()
        assert served.get("/api/public").status_code == 200
        assert served.get("/api/private-scoped", token).status_code == 200
        assert time.monotonic() - started < 1  # neither waited for the stalled tenant
        stalled = served.get("/api/private", make_token(kid="another-unknown-kid"))
        assert stalled.status_code == 503
        assert time.monotonic() - started < 1 + deadline_seconds + 1  # the fetch gives up at its deadline
        tenant.release()

        tenant.keys = [public_jwk(rsa_key), public_jwk(other_rsa_key, kid="key-2")]
        rotated = make_token(key=other_rsa_key, kid="key-2")
        shared_clock.advance(cooldown)  # past the cooldown the stall started: the new kid is fetched
        assert wait_for(lambda: served.get("/api/private", rotated).status_code == 200, timeout=10), (
            "the rotated key was never accepted"
        )

        fetches_before, flood_started = tenant.fetches, time.monotonic()
        for n in range(100):
            # 503 from a worker whose last refetch failed (the stall above), until its next one
            assert served.get("/api/private", make_token(kid=f"random-{n}")).status_code in (401, 503)
        bound = 2 * (1 + (time.monotonic() - flood_started) / cooldown)
        assert tenant.fetches - fetches_before <= bound
    finally:
        stop(served)
        tenant.stop()
    assert_clean(served.log_text())
