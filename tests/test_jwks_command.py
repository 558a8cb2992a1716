"""``manage.py jwks``: one fetch of the configured key set, as the server would make it."""

from __future__ import annotations

import io
import socket
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.tenant import public_jwk, serve


def run_jwks_command() -> str:
    out = io.StringIO()
    call_command("jwks", stdout=out)
    return out.getvalue()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_jwks_command_prints_usable_kids(tenant, rsa_key, other_rsa_key):
    without_alg = {name: value for name, value in public_jwk(other_rsa_key, "key-2").items() if name != "alg"}
    tenant.keys = [public_jwk(rsa_key), without_alg]

    output = run_jwks_command()

    assert f"Fetching {tenant.jwks_url}" in output
    assert "usable: kid=key-1 alg=RS256 bits=2048" in output
    assert "usable: kid=key-2 alg=(any allowed) bits=2048" in output
    assert "2 usable signing key(s)." in output
    assert "ignored:" not in output
    assert tenant.fetches == 1


def test_jwks_command_prints_ignored_keys_with_reasons(tenant, rsa_key, other_rsa_key):
    tenant.keys = [
        {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        public_jwk(other_rsa_key, "enc-1", use="enc"),
        public_jwk(rsa_key),
        public_jwk(other_rsa_key, "hs-1", alg="HS256"),
    ]

    output = run_jwks_command()

    assert "ignored: kid 'ec-1': kty is not RSA" in output
    assert "ignored: kid 'enc-1': use is not sig" in output
    assert "ignored: kid 'hs-1': alg is not an allowed algorithm" in output
    assert "usable: kid=key-1 alg=RS256 bits=2048" in output
    assert "1 usable signing key(s)." in output


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(serve(500, "internal error"), "HTTP 500", id="http-500"),
        pytest.param(serve(404), "HTTP 404", id="http-404"),
        pytest.param(serve(200, "<html>maintenance</html>"), "response is not JSON", id="not-json"),
        pytest.param(serve(200, '{"keys": []}'), "key set has no usable signing key", id="empty-key-set"),
        pytest.param(
            serve(302, Location="https://elsewhere.example.com/jwks.json"),
            "HTTP 302 (redirects are not followed)",
            id="redirect",
        ),
    ],
)
def test_jwks_command_unusable_answer_fails_with_reason(tenant, answer, reason):
    tenant.respond = answer

    with pytest.raises(CommandError) as raised:
        run_jwks_command()

    assert str(raised.value) == f"Unusable key set from {tenant.jwks_url}: {reason}"


def test_jwks_command_hanging_tenant_fails_with_timeout(tenant, settings):
    settings.AUTH0_JWKS_CONNECT_TIMEOUT = 0.3
    settings.AUTH0_JWKS_READ_TIMEOUT = 0.3
    tenant.hang()

    started = time.monotonic()
    with pytest.raises(CommandError) as raised:
        run_jwks_command()

    assert str(raised.value) == f"Unusable key set from {tenant.jwks_url}: timed out"
    assert time.monotonic() - started < 0.6 + 3.0


def test_jwks_command_connection_refused_fails_with_reason(tenant, settings):
    url = f"http://127.0.0.1:{unused_port()}/.well-known/jwks.json"
    settings.AUTH0_JWKS_URL = url

    with pytest.raises(CommandError) as raised:
        run_jwks_command()

    assert str(raised.value) == f"Unusable key set from {url}: connection failed: Connection refused"


def test_jwks_command_plain_http_tenant_fails_without_fetching(tenant, settings):
    settings.AUTH0_JWKS_URL = "http://tenant.example.com/.well-known/jwks.json"

    with pytest.raises(CommandError, match="refusing a URL that is not https"):
        run_jwks_command()


def test_jwks_command_without_tenant_fails(settings):
    settings.AUTH0_DOMAIN = ""

    with pytest.raises(CommandError, match=r"^AUTH0_DOMAIN is not set"):
        run_jwks_command()
