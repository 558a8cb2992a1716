"""``authn.fetch``, the only code that touches the network: a bounded GET against the stand-in tenant.

Status, size cap, no redirects, no compression, no credentials, https-only except loopback, TLS trusted
through the environment, and a deadline on the whole fetch that a stalled or dripping tenant cannot
stretch: real sockets on loopback, real time where the deadline is the point.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import time
from collections.abc import Iterator

import pytest
import requests

from authn.fetch import USER_AGENT, FetchError, Origin, fetch, is_allowed_url, is_loopback_host, origin
from tests.support.builders import LIMITS, STALL_LIMITS, TLS_STALL_LIMITS
from tests.support.tenant import TenantServer, jwk_set, serve, stall, start_tenant, trust_tenant
from tests.support.waiting import MARGIN


@pytest.fixture
def https_tenant(settings, rsa_key, certificate_authority) -> Iterator[TenantServer]:
    """``tenant``, served over TLS with a certificate from ``certificate_authority``."""
    server = start_tenant(rsa_key, certificate_authority)
    yield trust_tenant(settings, server, rsa_key)
    server.stop()


# -- what is fetched ----------------------------------------------------------


def test_fetch_answer_is_the_body_as_served(tenant):
    tenant.respond = serve(200, b"not JSON: fetching does not parse")

    assert fetch(tenant.jwks_url, LIMITS) == b"not JSON: fetching does not parse"
    assert tenant.fetches == 1


@pytest.mark.parametrize("status", [201, 203, 204, 400, 401, 403, 404, 429, 500, 502, 503])
def test_fetch_status_other_than_200_is_refused_naming_it(tenant, status):
    tenant.respond = serve(status, '{"keys": []}')

    with pytest.raises(FetchError, match=rf"^HTTP {status}$"):
        fetch(tenant.jwks_url, LIMITS)


# -- bounded responses --------------------------------------------------------


@pytest.mark.parametrize(
    "length",
    [pytest.param({}, id="declared-length"), pytest.param({"Content_Length": None}, id="no-length")],
)
def test_fetch_oversized_response_is_refused(tenant, length):
    body = json.dumps({"keys": tenant.keys, "padding": "x" * 70_000}).encode()
    tenant.respond = serve(200, body, **length)

    with pytest.raises(FetchError, match=r"^response is larger than 65536 bytes$"):
        fetch(tenant.jwks_url, dataclasses.replace(LIMITS, max_bytes=65536))


@pytest.mark.parametrize(
    "length",
    [pytest.param({}, id="declared-length"), pytest.param({"Content_Length": None}, id="no-length")],
)
def test_fetch_response_at_size_limit_is_accepted(tenant, length):
    body = jwk_set(*tenant.keys)
    tenant.respond = serve(200, body, **length)

    assert fetch(tenant.jwks_url, dataclasses.replace(LIMITS, max_bytes=len(body))) == body


def test_fetch_compressed_response_is_refused(tenant):
    tenant.respond = serve(200, gzip.compress(jwk_set(*tenant.keys)), Content_Encoding="gzip")

    with pytest.raises(FetchError, match=r"^response is compressed \(identity was asked for\)$"):
        fetch(tenant.jwks_url, LIMITS)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_fetch_redirect_is_not_followed(tenant, status):
    elsewhere = TenantServer().start()
    try:
        elsewhere.keys = tenant.keys
        tenant.respond = serve(status, Location=elsewhere.jwks_url)
        with pytest.raises(FetchError, match=rf"^HTTP {status} \(redirects are not followed\)$"):
            fetch(tenant.jwks_url, LIMITS)
        assert elsewhere.fetches == 0
    finally:
        elsewhere.stop()


# -- a stalled tenant: real deadlines ----------------------------------------

STALLS = [
    pytest.param("http", "silent", id="http-silent"),
    pytest.param("http", "dripping-head", id="http-dripping-head"),
    pytest.param("http", "dripping-body", id="http-dripping-body"),
    pytest.param("https", "dripping-head", id="https-dripping-head"),
    pytest.param("https", "dripping-body", id="https-dripping-body"),
]


@pytest.mark.parametrize(("scheme", "how"), STALLS)
def test_fetch_stalled_tenant_times_out_at_the_deadline(
    request, certificate_authority, monkeypatch, record_property, scheme, how
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate_authority["ca"]))
    tenant = request.getfixturevalue("https_tenant" if scheme == "https" else "tenant")
    limits = TLS_STALL_LIMITS if scheme == "https" else STALL_LIMITS
    stall(tenant, how)

    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out$"):
        fetch(tenant.jwks_url, limits)
    elapsed = time.monotonic() - started

    record_property(f"{scheme}_{how}_fetch_ended_after_s", round(elapsed, 3))
    assert elapsed < limits.deadline + MARGIN
    # The request (after the TLS handshake, for https) reaches the tenant. A silent one is read by a thread of
    # the tenant's that a loaded machine may schedule only after the fetch gave up: wait for it.
    assert tenant.wait_for_fetches(1) == 1


# -- TLS and where requests may go --------------------------------------------


def test_fetch_https_tenant_with_untrusted_ca_fails_tls_verification(https_tenant, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)

    with pytest.raises(FetchError, match=r"^TLS verification failed$"):
        fetch(https_tenant.jwks_url, LIMITS)
    assert https_tenant.fetches == 0


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_fetch_https_tenant_trusted_through_environment_is_accepted(
    call, https_tenant, make_token, certificate_authority, monkeypatch, variable
):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv(variable, str(certificate_authority["ca"]))

    assert https_tenant.jwks_url.startswith("https://127.0.0.1:")
    assert fetch(https_tenant.jwks_url, LIMITS) == jwk_set(*https_tenant.keys)
    assert call("/api/private", token=make_token()).status_code == 200
    assert https_tenant.fetches == 2


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://tenant.example.com/.well-known/jwks.json", id="http-domain"),
        pytest.param("http://10.0.0.1/.well-known/jwks.json", id="http-private-address"),
        pytest.param("http://127.0.0.1.nip.io/.well-known/jwks.json", id="http-loopback-lookalike"),
        pytest.param("ftp://127.0.0.1/jwks.json", id="ftp"),
    ],
)
def test_fetch_plain_http_to_non_loopback_host_is_refused_without_a_request(tenant, monkeypatch, url):
    # The tenant doubles as an HTTP proxy: a request that left the process would arrive there.
    monkeypatch.setenv("HTTP_PROXY", tenant.url)
    monkeypatch.setenv("http_proxy", tenant.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    with pytest.raises(
        FetchError, match=r"^refusing a URL that is not https \(plain http is for loopback hosts only\)$"
    ):
        fetch(url, LIMITS)
    assert tenant.fetches == 0
    if url.startswith("http:"):  # the same URL through plain requests does reach the proxy
        requests.get(url, timeout=2)
        assert tenant.fetches == 1


def test_fetch_sends_project_user_agent_and_no_credentials(tenant, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    tenant.respond = lambda t: (200, {"Set-Cookie": "session=abc; Path=/"}, jwk_set(*t.keys))

    fetch(tenant.jwks_url, LIMITS)
    fetch(tenant.jwks_url, LIMITS)  # a second fetch, after the tenant set a cookie
    requests.get(tenant.jwks_url, timeout=2)  # what plain requests would send from this environment

    sent = [{name.lower(): value for name, value in request.items()} for request in tenant.requests]
    assert "authorization" in sent[2]  # the netrc entry is real: only our fetch ignores it
    assert not USER_AGENT.startswith("python-requests/")  # the project's own, not the library's default
    for headers in sent[:2]:
        assert headers["user-agent"] == USER_AGENT
        assert headers["accept"] == "application/json"
        assert headers["accept-encoding"] == "identity"
        assert "authorization" not in headers
        assert "cookie" not in headers


def test_fetch_connection_refused_states_reason(tenant):
    url = tenant.jwks_url
    tenant.stop()

    with pytest.raises(FetchError, match=r"^connection failed: Connection refused$"):
        fetch(url, LIMITS)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        pytest.param("https://tenant.example.com/.well-known/jwks.json", True, id="https-domain"),
        pytest.param("https://10.0.0.1/jwks.json", True, id="https-private-address"),
        pytest.param("HTTPS://TENANT.example.com/jwks.json", True, id="https-scheme-in-capitals"),
        pytest.param("http://127.0.0.1:8080/jwks.json", True, id="http-loopback-v4"),
        pytest.param("http://127.3.2.1/jwks.json", True, id="http-loopback-v4-anywhere-in-127/8"),
        pytest.param("http://[::1]:8080/jwks.json", True, id="http-loopback-v6"),
        pytest.param("http://localhost/jwks.json", True, id="http-localhost"),
        pytest.param("http://tenant.localhost:8080/jwks.json", True, id="http-under-localhost"),
        pytest.param("http://tenant.example.com/jwks.json", False, id="http-domain"),
        pytest.param("http://0.0.0.0/jwks.json", False, id="http-unspecified-address"),
        pytest.param("http://localhost.example.com/jwks.json", False, id="http-localhost-lookalike"),
        pytest.param("ftp://127.0.0.1/jwks.json", False, id="ftp-loopback"),
        pytest.param("https:///jwks.json", False, id="no-host"),
        pytest.param("/.well-known/jwks.json", False, id="relative"),
        pytest.param("https://[::1/jwks.json", False, id="unparseable"),
        pytest.param(None, False, id="none"),
        pytest.param(b"https://tenant.example.com/", False, id="bytes"),
    ],
)
def test_is_allowed_url_https_anywhere_plain_http_on_loopback_only(url, allowed):
    assert is_allowed_url(url) is allowed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("localhost", True),
        ("api.localhost", True),
        ("128.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - a host to classify, nothing binds it
        ("::", False),
        ("localhost.example.com", False),
        ("example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("url", "expected", "shown"),
    [
        pytest.param("https://tenant.example.com/x", ("https", "tenant.example.com", 443), None, id="https-default"),
        pytest.param("http://tenant.example.com/x", ("http", "tenant.example.com", 80), None, id="http-default"),
        pytest.param("https://Tenant.Example.COM:8443", ("https", "tenant.example.com", 8443), None, id="port-case"),
        pytest.param("https://user@tenant.example.com/", ("https", "tenant.example.com", 443), None, id="userinfo"),
        pytest.param("https://[::1]:8443/x", ("https", "::1", 8443), "https://[::1]:8443", id="ipv6"),
        pytest.param("wss://tenant.example.com/", ("wss", "tenant.example.com", 0), None, id="unknown-scheme"),
        pytest.param("https:///x", None, None, id="no-host"),
        pytest.param("https://tenant.example.com:99999/", None, None, id="port-out-of-range"),
        pytest.param("https://tenant.example.com:https/", None, None, id="port-not-a-number"),
    ],
)
def test_origin_is_scheme_host_and_port(url, expected, shown):
    found = origin(url)

    assert found == (Origin(*expected) if expected else None)
    if found is not None:
        assert str(found) == (shown or f"{expected[0]}://{expected[1]}:{expected[2]}")
