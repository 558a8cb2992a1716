"""Contract §4: the signing-key policy, against a real tenant on loopback.

Nothing in ``authn`` is mocked: the fetch, the cache, its clock and the token
verifier all run for real, with ttl, cooldown and timeouts shrunk to fractions
of a second. The measured figures (fetch counts, durations) are attached to
each test with ``record_property``; ``pytest --junitxml`` shows them.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from rest_framework.test import APIClient

from authn import trust
from authn.jwks import KeySetCache, KeySetError, KeySetUnavailable, fetch_key_set, parse_key_set, signing_key
from tests.conftest import KID, PUBLIC_MESSAGE, public_jwk, trust_tenant
from tests.jwks_server import TenantServer, drip, serve, serve_keys
from tests.tls import server_tls_context

NEW_KID = "key-2"
DROP = object()  # in a table of JWK changes: remove the member
CI_MARGIN = 3.0  # seconds added to every upper bound on a duration: generous for a loaded CI runner
WEAK_MODULUS = RSAAlgorithm.to_jwk(
    rsa.generate_private_key(65537, 1024).public_key(),  # noqa: S505 - the weak key is what is refused
    as_dict=True,
)["n"]


# -- helpers ------------------------------------------------------------------


def key_cache(url: str, **overrides: Any) -> KeySetCache:
    """A ``KeySetCache`` as the server builds one, with times shrunk for tests; ``overrides`` change them."""
    options: dict[str, Any] = {
        "algorithms": ["RS256"],
        "ttl": 60,
        "cooldown": 0.2,
        "stale_for": 60,
        "connect_timeout": 0.5,
        "read_timeout": 0.5,
        "max_bytes": 64 * 1024,
        "max_keys": 50,
    }
    return KeySetCache(url, **{**options, **overrides})


def fetch(url: str, **overrides: Any) -> bytes:
    options: dict[str, Any] = {"connect_timeout": 0.5, "read_timeout": 0.5, "max_bytes": 64 * 1024}
    return fetch_key_set(url, **{**options, **overrides})


def with_changes(jwk: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    changed = {**jwk, **changes}
    return {name: value for name, value in changed.items() if value is not DROP}


def jwk_set(*jwks: Any) -> bytes:
    return json.dumps({"keys": list(jwks)}).encode()


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def jwks_records(caplog: pytest.LogCaptureFixture, tenant: TenantServer, text: str) -> list[logging.LogRecord]:
    """This test's records: a background refresh from an earlier test may still log about its tenant."""
    return [
        r for r in caplog.records if r.name == "authn.jwks" and text in r.getMessage() and tenant.url in r.getMessage()
    ]


def assert_unknown_key(response: Any) -> None:
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_header"


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    assert int(response["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response


def get_private(token: str) -> Any:
    """A request from its own client, for use in a thread (a test client is not thread-safe)."""
    return APIClient().get("/api/private", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def new_key_token(make_token: Callable[..., str], other_rsa_key: rsa.RSAPrivateKey) -> str:
    """A valid token signed with ``other_rsa_key`` under ``NEW_KID``: the tenant's next key."""
    return make_token(key=other_rsa_key, kid=NEW_KID)


# -- rotation -----------------------------------------------------------------


def test_rotation_new_kid_after_cooldown_is_accepted_with_one_refetch(
    call, tenant, make_token, new_key_token, settings, rsa_key, other_rsa_key
):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.2
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.keys = [public_jwk(rsa_key), public_jwk(other_rsa_key, NEW_KID)]
    time.sleep(0.25)

    assert call("/api/private", token=new_key_token).status_code == 200
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    assert tenant.fetches == 2


def test_rotation_new_kid_within_cooldown_is_accepted_once_cooldown_passes(
    call, tenant, make_token, new_key_token, settings, rsa_key, other_rsa_key, record_property
):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.3
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.keys = [public_jwk(rsa_key), public_jwk(other_rsa_key, NEW_KID)]
    published = time.monotonic()

    assert_unknown_key(call("/api/private", token=new_key_token))  # the last fetch was moments ago
    assert tenant.fetches == 1
    assert eventually(lambda: call("/api/private", token=new_key_token).status_code == 200)
    accepted_after = time.monotonic() - published

    record_property("new_kid_accepted_after_s", round(accepted_after, 3))
    assert accepted_after < 0.3 + CI_MARGIN
    assert tenant.fetches == 2  # retries within the cooldown did not reach the tenant


def test_rotation_retired_kid_is_refused_after_the_next_refresh(
    call, tenant, make_token, new_key_token, settings, other_rsa_key
):
    settings.AUTH0_JWKS_CACHE_SECONDS = 0.1
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.05
    old_token = make_token()
    assert call("/api/private", token=old_token).status_code == 200
    tenant.keys = [public_jwk(other_rsa_key, NEW_KID)]

    # Past the TTL a background refresh picks up the new set; the validated-token cache follows it.
    assert eventually(lambda: call("/api/private", token=old_token).status_code == 401)
    assert_unknown_key(call("/api/private", token=old_token))
    assert call("/api/private", token=new_key_token).status_code == 200


# -- warm outage: stale-if-error ---------------------------------------------

UNUSABLE_ONLY = jwk_set(
    {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
    {"kty": "oct", "kid": "oct-1", "k": "c2VjcmV0"},
)
OUTAGES = [
    pytest.param(serve(500, "internal error"), "reason=HTTP 500", id="http-500"),
    pytest.param(serve(200, "<html>maintenance</html>"), "reason=response is not JSON", id="not-json"),
    pytest.param(serve(200, '{"keys": []}'), "reason=key set has no usable signing key", id="empty-key-set"),
    pytest.param(serve(200, UNUSABLE_ONLY), "kid 'ec-1': kty is not RSA", id="only-unusable-keys"),
    pytest.param(lambda _tenant: None, "reason=connection failed", id="connection-drop"),
]


@pytest.mark.parametrize(("outage", "logged"), OUTAGES)
def test_warm_outage_cached_kid_keeps_working_and_logs_warning(
    call, tenant, make_token, settings, caplog, outage, logged
):
    settings.AUTH0_JWKS_CACHE_SECONDS = 0.1
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.05
    caplog.set_level(logging.INFO, logger="authn")
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.respond = outage
    time.sleep(0.15)

    # Past the TTL: the refresh runs in the background, and fails.
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    assert eventually(lambda: jwks_records(caplog, tenant, "JWKS fetch failed") != [])
    assert call("/api/private", token=make_token(sub="auth0|user-3")).status_code == 200

    failure = jwks_records(caplog, tenant, "JWKS fetch failed")[0]
    assert failure.levelno == logging.WARNING
    assert logged in failure.getMessage()
    assert "serving the cached key set" in failure.getMessage()
    assert failure.exc_info is None
    assert "Traceback" not in caplog.text


def test_warm_outage_unknown_kid_is_503(call, tenant, make_token, new_key_token, settings):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.05
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.respond = serve(500)
    time.sleep(0.06)

    assert_unavailable(call("/api/private", token=new_key_token))
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200


def test_warm_outage_then_new_key_set_replaces_the_stale_one(
    call, tenant, make_token, new_key_token, settings, other_rsa_key
):
    settings.AUTH0_JWKS_CACHE_SECONDS = 0.1
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.05
    old_token = make_token()
    assert call("/api/private", token=old_token).status_code == 200
    tenant.respond = serve(500)
    time.sleep(0.15)
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    assert tenant.wait_for_fetches(2) == 2

    tenant.respond = serve_keys
    tenant.keys = [public_jwk(other_rsa_key, NEW_KID)]
    time.sleep(0.06)

    assert call("/api/private", token=new_key_token).status_code == 200
    assert_unknown_key(call("/api/private", token=old_token))


def test_warm_outage_past_stale_window_is_503(call, tenant, make_token, settings):
    settings.AUTH0_JWKS_CACHE_SECONDS = 0.1
    settings.AUTH0_JWKS_STALE_SECONDS = 0.2
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.05
    token = make_token()
    assert call("/api/private", token=token).status_code == 200
    tenant.respond = serve(500)
    time.sleep(0.35)

    assert_unavailable(call("/api/private", token=token))  # the same token, validated before
    assert tenant.fetches >= 2


# -- cold outage --------------------------------------------------------------


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(serve(500, "internal error"), id="http-500"),
        pytest.param(serve(200, "not json"), id="not-json"),
        pytest.param(lambda _tenant: None, id="connection-drop"),
    ],
)
def test_cold_outage_is_503_then_recovers_once_cooldown_passed(call, tenant, make_token, settings, outage):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.3
    token = make_token()
    tenant.respond = outage
    assert_unavailable(call("/api/private", token=token))

    tenant.respond = serve_keys
    assert_unavailable(call("/api/private", token=token))  # within the cooldown: no second fetch
    assert tenant.fetches == 1
    time.sleep(0.3)

    assert call("/api/private", token=token).status_code == 200
    assert tenant.fetches == 2


def test_cold_outage_connection_refused_is_503(call, tenant, make_token):
    tenant.stop()
    assert_unavailable(call("/api/private", token=make_token()))


# -- a stalled tenant ---------------------------------------------------------


def test_hanging_tenant_refuses_key_fetch_within_timeouts_while_others_answer(
    call, tenant, make_token, new_key_token, settings, record_property
):
    settings.AUTH0_JWKS_CONNECT_TIMEOUT = 0.5
    settings.AUTH0_JWKS_READ_TIMEOUT = 1.0
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.05
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.hang()
    time.sleep(0.06)

    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        needing_keys = pool.submit(get_private, new_key_token)
        assert tenant.wait_for_fetches(2) == 2  # its fetch is stuck at the tenant
        public = call("/api/public")
        cached = call("/api/private", token=make_token(sub="auth0|user-2"))
        others_done = time.monotonic() - started
        assert not needing_keys.done()  # both answered while the fetch was still stuck
        refused = needing_keys.result()
        refused_after = time.monotonic() - started

    record_property("stuck_fetch_refused_after_s", round(refused_after, 3))
    record_property("others_answered_after_s", round(others_done, 3))
    assert public.status_code == 200
    assert public.json() == {"message": PUBLIC_MESSAGE}
    assert cached.status_code == 200
    assert_unavailable(refused)
    assert refused_after < 0.5 + 1.0 + CI_MARGIN


def test_dripping_tenant_fetch_is_cut_at_the_deadline(tenant, record_property):
    body = jwk_set(*tenant.keys)
    tenant.respond = drip(body, every=0.02)  # ~9 s for the whole body, each byte well within the read timeout

    started = time.monotonic()
    with pytest.raises(KeySetError, match=r"^timed out$"):
        fetch(tenant.jwks_url, connect_timeout=0.3, read_timeout=0.5)
    elapsed = time.monotonic() - started

    record_property("drip_fetch_refused_after_s", round(elapsed, 3))
    assert elapsed < 0.3 + 0.5 + CI_MARGIN


@pytest.mark.parametrize(
    ("stall", "cooldown"),
    [
        # a cooldown shorter than a fetch: the requests waiting for it must still not refetch
        pytest.param("hang", 0.05, id="hanging"),
        # as the defaults: cooldown == connect + read timeout
        pytest.param("drip", 0.8, id="dripping"),
    ],
)
def test_stalled_tenant_cold_start_refuses_every_waiting_request_with_one_fetch(
    tenant, make_token, settings, record_property, stall, cooldown
):
    settings.AUTH0_JWKS_CONNECT_TIMEOUT = 0.3
    settings.AUTH0_JWKS_READ_TIMEOUT = 0.5
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = cooldown
    if stall == "hang":
        tenant.hang()
    else:
        tenant.respond = drip(jwk_set(*tenant.keys), every=0.02)
    tokens = [make_token(sub=f"auth0|user-{n}") for n in range(5)]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        responses = list(pool.map(get_private, tokens))
    elapsed = time.monotonic() - started

    record_property(f"{stall}_cold_all_refused_after_s", round(elapsed, 3))
    for response in responses:
        assert_unavailable(response)
    assert elapsed < 0.3 + 0.5 + CI_MARGIN
    assert tenant.fetches == 1  # requests that waited for the failed fetch did not start another


# -- bounded responses --------------------------------------------------------


@pytest.mark.parametrize(
    "length",
    [pytest.param({}, id="declared-length"), pytest.param({"Content_Length": None}, id="no-length")],
)
def test_fetch_oversized_response_is_refused(tenant, length):
    body = json.dumps({"keys": tenant.keys, "padding": "x" * 70_000}).encode()
    tenant.respond = serve(200, body, **length)

    with pytest.raises(KeySetError, match=r"^response is larger than 65536 bytes$"):
        fetch(tenant.jwks_url, max_bytes=65536)


@pytest.mark.parametrize(
    "length",
    [pytest.param({}, id="declared-length"), pytest.param({"Content_Length": None}, id="no-length")],
)
def test_fetch_response_at_size_limit_is_accepted(tenant, length):
    body = jwk_set(*tenant.keys)
    tenant.respond = serve(200, body, **length)

    assert fetch(tenant.jwks_url, max_bytes=len(body)) == body


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_fetch_redirect_is_not_followed(tenant, status):
    elsewhere = TenantServer().start()
    try:
        elsewhere.keys = tenant.keys
        tenant.respond = serve(status, Location=elsewhere.jwks_url)
        with pytest.raises(KeySetError, match=rf"^HTTP {status} \(redirects are not followed\)$"):
            fetch(tenant.jwks_url)
        assert elsewhere.fetches == 0
    finally:
        elsewhere.stop()


def test_key_set_with_too_many_keys_is_refused(call, tenant, make_token, settings, rsa_key):
    settings.AUTH0_JWKS_MAX_KEYS = 3
    tenant.keys = [public_jwk(rsa_key, kid=f"key-{n}") for n in range(1, 5)]

    assert_unavailable(call("/api/private", token=make_token()))
    with pytest.raises(KeySetError, match=r"^key set has 4 keys, over the limit of 3$"):
        parse_key_set(jwk_set(*tenant.keys), algorithms=["RS256"], max_keys=3)


# -- key hygiene --------------------------------------------------------------

UNUSABLE_KEYS = [
    pytest.param({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, "kty is not RSA", id="kty-ec"),
    pytest.param({"kty": "oct", "k": "c2VjcmV0"}, "kty is not RSA", id="kty-oct"),
    pytest.param({"kty": DROP}, "kty is not RSA", id="kty-missing"),
    pytest.param({"use": "enc"}, "use is not sig", id="use-enc"),
    pytest.param({"alg": "HS256"}, "alg is not an allowed algorithm", id="alg-hs256"),
    pytest.param({"alg": "none"}, "alg is not an allowed algorithm", id="alg-none"),
    pytest.param({"alg": "RS384"}, "alg is not an allowed algorithm", id="alg-rs384-not-allowed"),
    pytest.param({"n": WEAK_MODULUS}, "modulus is 1024 bits, under 2048", id="rsa-1024-bit"),
    pytest.param({"kid": DROP}, "a key has no usable kid", id="kid-missing"),
    pytest.param({"kid": ""}, "a key has no usable kid", id="kid-empty"),
    pytest.param({"kid": 7}, "a key has no usable kid", id="kid-not-string"),
    pytest.param({"kid": "k" * 257}, "a key has no usable kid", id="kid-too-long"),
    pytest.param({"d": "AQAB"}, "publishes private key material", id="private-d"),
    pytest.param({"p": "AQAB", "q": "AQAB"}, "publishes private key material", id="private-p-q"),
    pytest.param({"n": DROP}, "n or e is missing", id="n-missing"),
    pytest.param({"e": 65537}, "n or e is missing", id="e-number"),
    pytest.param({"n": "%%%"}, "n or e is malformed", id="n-not-base64url"),
    pytest.param({"n": "A"}, "n or e is malformed", id="n-truncated-base64url"),
    pytest.param({"n": ""}, "n or e is malformed", id="n-empty"),
    pytest.param({"e": "AA"}, "n or e is malformed", id="e-zero"),
    pytest.param({"key_ops": ["sign"]}, "key_ops does not allow verify", id="key-ops-sign-only"),
    pytest.param({"key_ops": ["encrypt", "wrapKey"]}, "key_ops does not allow verify", id="key-ops-encrypt"),
    pytest.param({"key_ops": "verify"}, "key_ops does not allow verify", id="key-ops-not-a-list"),
]


@pytest.mark.parametrize(("changes", "reason"), UNUSABLE_KEYS)
def test_signing_key_unusable_jwk_is_refused_with_reason(rsa_key, changes, reason):
    with pytest.raises(KeySetError, match=re.escape(reason)):
        signing_key(with_changes(public_jwk(rsa_key), changes), ["RS256"])


@pytest.mark.parametrize(("changes", "reason"), UNUSABLE_KEYS)
def test_parse_key_set_unusable_jwk_is_ignored_beside_a_usable_one(rsa_key, other_rsa_key, changes, reason):
    document = jwk_set(with_changes(public_jwk(other_rsa_key, kid="key-bad"), changes), public_jwk(rsa_key))

    usable, ignored = parse_key_set(document, algorithms=["RS256"], max_keys=50)

    assert list(usable) == [KID]
    assert len(ignored) == 1
    assert reason in ignored[0]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"alg": DROP}, id="no-alg"),
        pytest.param({"use": DROP}, id="no-use"),
        pytest.param({"alg": DROP, "use": DROP}, id="no-alg-no-use"),
        pytest.param({"key_ops": ["verify"]}, id="key-ops-verify"),
        pytest.param({"x5c": ["MIIB"], "x5t": "abc"}, id="certificate-members"),
    ],
)
def test_signing_key_without_optional_members_is_accepted(rsa_key, changes):
    key = signing_key(with_changes(public_jwk(rsa_key), changes), ["RS256"])

    assert key.kid == KID
    assert key.public_key.public_numbers() == rsa_key.public_key().public_numbers()
    assert key.algorithm == ("RS256" if "alg" not in changes else None)


def test_signing_key_rs384_is_accepted_when_allowed(rsa_key):
    assert signing_key(public_jwk(rsa_key, alg="RS384"), ["RS256", "RS384"]).algorithm == "RS384"


def test_signing_key_not_an_object_is_refused():
    with pytest.raises(KeySetError, match=r"^a key is not a JSON object$"):
        signing_key(["RSA"], ["RS256"])


def test_parse_key_set_duplicate_kid_first_usable_key_wins(rsa_key, other_rsa_key):
    unusable, first, second = (
        public_jwk(other_rsa_key, use="enc"),
        public_jwk(rsa_key),
        public_jwk(other_rsa_key),
    )

    for _ in range(3):  # deterministic, not an accident of ordering
        usable, ignored = parse_key_set(jwk_set(unusable, first, second), algorithms=["RS256"], max_keys=50)
        assert usable[KID].public_key.public_numbers() == rsa_key.public_key().public_numbers()
        assert ignored == [f"kid {KID!r}: use is not sig", f"kid {KID!r}: duplicate kid, the first usable key is kept"]
    usable, _ = parse_key_set(jwk_set(second, first), algorithms=["RS256"], max_keys=50)
    assert usable[KID].public_key.public_numbers() == other_rsa_key.public_key().public_numbers()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param(b"<html></html>", "response is not JSON", id="html"),
        pytest.param(b"\xff\xfe", "response is not JSON", id="not-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "response is not JSON", id="deeply-nested"),
        pytest.param(b"[]", 'response is not a JWK Set (no "keys" array)', id="array"),
        pytest.param(b"{}", 'response is not a JWK Set (no "keys" array)', id="no-keys"),
        pytest.param(b'{"keys": {}}', 'response is not a JWK Set (no "keys" array)', id="keys-not-array"),
        pytest.param(b'{"keys": []}', "key set has no usable signing key", id="empty"),
        pytest.param(b'{"keys": [1, "x"]}', "key set has no usable signing key; a key is not", id="keys-not-objects"),
    ],
)
def test_parse_key_set_not_a_usable_jwk_set_is_refused(document, reason):
    with pytest.raises(KeySetError, match=re.escape(reason)):
        parse_key_set(document, algorithms=["RS256"], max_keys=50)


# -- kid floods and concurrency -----------------------------------------------


def test_kid_flood_fetches_at_most_once_per_cooldown(call, tenant, make_token, settings, record_property):
    cooldown = 0.2
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = cooldown
    assert call("/api/private", token=make_token()).status_code == 200
    tokens = [make_token(kid=secrets.token_hex(8)) for _ in range(200)]

    started = time.monotonic()
    for token in tokens:
        assert_unknown_key(call("/api/private", token=token))
    elapsed = time.monotonic() - started
    refetches = tenant.fetches - 1

    record_property("flood_requests", len(tokens))
    record_property("flood_duration_s", round(elapsed, 3))
    record_property("flood_refetches", refetches)
    assert refetches <= 1 + elapsed / cooldown
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200


def test_kid_flood_from_many_threads_fetches_at_most_once_per_cooldown(tenant, record_property):
    cooldown = 0.2
    cache = key_cache(tenant.jwks_url, cooldown=cooldown)
    assert cache.get_key(KID) is not None
    stop_at = time.monotonic() + 0.6

    def flood(_: int) -> list[Any]:
        found = []
        while time.monotonic() < stop_at:
            found.append(cache.get_key(secrets.token_hex(8)))
        return found

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = [key for keys in pool.map(flood, range(8)) for key in keys]
    elapsed = time.monotonic() - started
    refetches = tenant.fetches - 1

    record_property("threaded_flood_lookups", len(found))
    record_property("threaded_flood_duration_s", round(elapsed, 3))
    record_property("threaded_flood_refetches", refetches)
    assert set(found) == {None}
    assert refetches <= 1 + elapsed / cooldown


def test_cold_start_concurrent_validations_share_one_fetch(tenant, make_token, record_property):
    tokens = [make_token(sub=f"auth0|user-{n}") for n in range(24)]
    validator = trust.get_validator()
    start_together = threading.Barrier(len(tokens))

    def validate(token: str) -> str:
        start_together.wait()
        return validator.validate(token).subject

    tenant.hang()  # hold the first fetch so that every thread arrives while it is in flight
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        subjects = pool.map(validate, tokens)
        assert tenant.wait_for_fetches(1) == 1
        time.sleep(0.1)
        tenant.release()
        assert list(subjects) == [f"auth0|user-{n}" for n in range(24)]

    record_property("cold_start_threads", len(tokens))
    record_property("cold_start_fetches", tenant.fetches)
    assert tenant.fetches == 1


def test_cold_start_concurrent_requests_share_one_fetch(tenant, make_token):
    tokens = [make_token(sub=f"auth0|user-{n}") for n in range(20)]

    tenant.hang()
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        responses = pool.map(get_private, tokens)
        assert tenant.wait_for_fetches(1) == 1
        time.sleep(0.1)
        tenant.release()
        assert [response.status_code for response in responses] == [200] * 20

    assert tenant.fetches == 1


def test_background_refresh_after_ttl_keeps_cached_kid_answering(
    call, tenant, make_token, settings, caplog, record_property
):
    settings.AUTH0_JWKS_CACHE_SECONDS = 0.2
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 0.05
    caplog.set_level(logging.INFO, logger="authn")
    assert call("/api/private", token=make_token()).status_code == 200
    time.sleep(0.25)
    tenant.hang()

    started = time.monotonic()
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    answered_after = time.monotonic() - started
    assert tenant.wait_for_fetches(2) == 2  # the refresh, in the background, stuck at the tenant
    assert call("/api/private", token=make_token(sub="auth0|user-3")).status_code == 200
    tenant.release()
    assert eventually(lambda: len(jwks_records(caplog, tenant, "JWKS fetched")) == 2)

    record_property("answered_during_refresh_after_s", round(answered_after, 3))
    assert tenant.fetches == 2
    assert call("/api/private", token=make_token(sub="auth0|user-4")).status_code == 200


def test_key_cache_unchanged_key_keeps_its_identity_across_refresh(tenant):
    cache = key_cache(tenant.jwks_url, ttl=0, cooldown=0)
    before = cache.get_key(KID)

    assert cache.get_key("unknown") is None  # forces a refetch of the same set
    assert tenant.fetches == 2
    assert cache.get_key(KID) is before


def test_key_cache_cold_failure_raises_unavailable_with_retry_after(tenant):
    tenant.respond = serve(500)
    cache = key_cache(tenant.jwks_url, cooldown=2.5)

    with pytest.raises(KeySetUnavailable) as raised:
        cache.get_key(KID)
    assert raised.value.retry_after == 3
    assert cache.peek(KID) is None


# -- TLS and where requests may go --------------------------------------------


@pytest.fixture
def https_tenant(settings, rsa_key, certificate_authority):
    """``tenant``, served over TLS with a certificate from ``certificate_authority``."""
    server = TenantServer(tls=server_tls_context(certificate_authority)).start()
    yield trust_tenant(settings, server, rsa_key)
    server.stop()


def test_fetch_https_tenant_with_untrusted_ca_fails_tls_verification(https_tenant, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)

    with pytest.raises(KeySetError, match=r"^TLS verification failed$"):
        fetch(https_tenant.jwks_url)
    assert https_tenant.fetches == 0


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_fetch_https_tenant_trusted_through_environment_is_accepted(
    call, https_tenant, make_token, certificate_authority, monkeypatch, variable
):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv(variable, str(certificate_authority["ca"]))

    assert https_tenant.jwks_url.startswith("https://127.0.0.1:")
    assert fetch(https_tenant.jwks_url) == jwk_set(*https_tenant.keys)
    assert call("/api/private", token=make_token()).status_code == 200
    assert https_tenant.fetches == 2


def test_dripping_https_tenant_fetch_is_cut_at_the_deadline(https_tenant, certificate_authority, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate_authority["ca"]))
    https_tenant.respond = drip(jwk_set(*https_tenant.keys), every=0.02)

    started = time.monotonic()
    with pytest.raises(KeySetError, match=r"^timed out$"):
        fetch(https_tenant.jwks_url, connect_timeout=0.3, read_timeout=0.5)
    assert time.monotonic() - started < 0.3 + 0.5 + CI_MARGIN


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

    with pytest.raises(KeySetError, match=r"^refusing a JWKS URL that is not https"):
        fetch(url)
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
    cache = key_cache(tenant.jwks_url, cooldown=0)

    assert cache.get_key(KID) is not None
    assert cache.get_key("unknown") is None  # a second fetch, after the tenant set a cookie
    requests.get(tenant.jwks_url, timeout=2)  # what plain requests would send from this environment

    sent = [{name.lower(): value for name, value in request.items()} for request in tenant.requests]
    assert "authorization" in sent[2]  # the netrc entry is real: only our fetch ignores it
    for headers in sent[:2]:
        assert headers["user-agent"].startswith("messages-api-jwks/")
        assert headers["accept"] == "application/json"
        assert "authorization" not in headers
        assert "cookie" not in headers


def test_fetch_connection_refused_states_reason(tenant):
    url = tenant.jwks_url
    tenant.stop()

    with pytest.raises(KeySetError, match=r"^connection failed: Connection refused$"):
        fetch(url)
