"""The signing-key policy (key sets, their cache, rotation, outages, discovery), against a real tenant on
loopback. The bounded fetch itself is tests/test_fetch.py; the RSA rules, tests/test_keys.py.

Nothing in ``authn`` is mocked: the fetch, the cache and the token verifier
run for real against ``TenantServer``. Time is a ``FakeClock`` moved by hand
(``fake_time`` through the Django stack, ``clock=`` for a ``KeySetCache``),
so TTLs, cooldowns and stale windows pass in no time; real time passes only
where a socket deadline is the point (hanging and dripping tenants), with
timeouts shrunk to fractions of a second. The measured durations are attached
to those tests with ``record_property``; ``pytest --junitxml`` shows them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command

from authn import conf, runtime
from authn.errors import KeysUnavailable
from authn.jwks import KeySetCache, KeySetError, parse_discovery, parse_key_set, signing_key
from tests.support.api import PUBLIC_MESSAGE, get_private
from tests.support.builders import LIMITS, STALL_LIMITS, key_policy
from tests.support.clock import FakeClock
from tests.support.tenant import (
    DISCOVERY_PATH,
    DRIP_EVERY,
    ISSUER,
    JWKS_PATH,
    KID,
    TenantServer,
    discovery,
    drip_head,
    jwk_set,
    odd_number,
    public_jwk,
    rsa_jwk,
    serve,
    serve_keys,
    stall,
)
from tests.support.waiting import MARGIN, threads_inside, wait_for

NEW_KID = "key-2"
DROP = object()  # in a table of JWK changes: remove the member
POLICY = key_policy(algorithms=("RS256",), limits=LIMITS, ttl=600, cooldown=5, stale_for=3600, max_keys=50)


# -- helpers ------------------------------------------------------------------


def key_cache(tenant: TenantServer, clock: FakeClock, *, discover: bool = False, **policy: Any) -> KeySetCache:
    """A cache of ``tenant``'s keys on ``clock``, found directly or through discovery; ``policy`` changes ``POLICY``."""
    return KeySetCache(
        tenant.issuer,
        jwks_url=None if discover else tenant.jwks_url,
        policy=dataclasses.replace(POLICY, **policy),
        clock=clock,
    )


def with_changes(jwk: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    changed = {**jwk, **changes}
    return {name: value for name, value in changed.items() if value is not DROP}


def assert_unknown_key(response: Any) -> None:
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_header"


def assert_unavailable(response: Any, retry_after: int | None = None) -> None:
    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    assert int(response["Retry-After"]) >= 1
    if retry_after is not None:
        assert int(response["Retry-After"]) == retry_after
    assert "WWW-Authenticate" not in response


class JwksLog(logging.Handler):
    """The ``authn.jwks`` records about one tenant; a refresh logs from its own thread, so tests wait for them."""

    def __init__(self, tenant: TenantServer) -> None:
        super().__init__(logging.DEBUG)
        self._about = tenant.url + "/"  # not a tenant of an earlier test on a port with one more digit
        self._records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if self._about in record.getMessage():
            with self._changed:
                self._records.append(record)
                self._changed.notify_all()

    def matching(self, text: str) -> list[logging.LogRecord]:
        with self._changed:
            return [record for record in self._records if text in record.getMessage()]

    def wait_for(self, text: str, count: int = 1, timeout: float = 5.0) -> list[logging.LogRecord]:
        """The records containing ``text`` once there are ``count`` of them (or ``timeout`` passes)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.matching(text)) >= count, timeout)
        return self.matching(text)


@pytest.fixture
def jwks_log(tenant: TenantServer) -> Iterator[JwksLog]:
    logger = logging.getLogger("authn.jwks")
    handler, level = JwksLog(tenant), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def new_key_token(make_token: Callable[..., str], other_rsa_key: rsa.RSAPrivateKey) -> str:
    """A valid token signed with ``other_rsa_key`` under ``NEW_KID``: the tenant's next key."""
    return make_token(key=other_rsa_key, kid=NEW_KID)


def discover_keys_of(settings: Any, tenant: TenantServer) -> None:
    """Trust ``tenant`` as the issuer it is, its key set found through its discovery document."""
    settings.AUTH0_OIDC_DISCOVERY = True
    settings.AUTH0_ISSUER = tenant.issuer
    settings.AUTH0_JWKS_URL = ""
    tenant.documents[DISCOVERY_PATH] = discovery()


# -- rotation -----------------------------------------------------------------


def test_rotation_new_kid_after_cooldown_is_accepted_with_one_refetch(
    call, tenant, make_token, new_key_token, settings, fake_time, rsa_key, other_rsa_key
):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 5
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.keys = [public_jwk(rsa_key), public_jwk(other_rsa_key, NEW_KID)]
    fake_time.advance(5)

    assert call("/api/private", token=new_key_token).status_code == 200
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    assert tenant.fetches == 2


def test_rotation_new_kid_within_cooldown_is_accepted_once_cooldown_passes(
    call, tenant, make_token, new_key_token, settings, fake_time, rsa_key, other_rsa_key
):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 5
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.keys = [public_jwk(rsa_key), public_jwk(other_rsa_key, NEW_KID)]

    assert_unknown_key(call("/api/private", token=new_key_token))  # the last fetch was moments ago
    fake_time.advance(4.5)
    assert_unknown_key(call("/api/private", token=new_key_token))  # still within the cooldown
    assert tenant.fetches == 1  # retries within the cooldown did not reach the tenant
    fake_time.advance(1)

    assert call("/api/private", token=new_key_token).status_code == 200
    assert tenant.fetches == 2


def test_rotation_retired_kid_is_refused_after_the_next_refresh(
    call, tenant, make_token, new_key_token, settings, fake_time, jwks_log, other_rsa_key
):
    settings.AUTH0_JWKS_CACHE_SECONDS = 600
    old_token = make_token()
    assert call("/api/private", token=old_token).status_code == 200
    tenant.keys = [public_jwk(other_rsa_key, NEW_KID)]
    fake_time.advance(600)

    # Past the TTL the cached token still answers while a background refresh picks up the new set...
    assert call("/api/private", token=old_token).status_code == 200
    assert len(jwks_log.wait_for("JWKS fetched", count=2)) == 2
    # ...and the validated-token cache follows the new set.
    assert_unknown_key(call("/api/private", token=old_token))
    assert call("/api/private", token=new_key_token).status_code == 200
    assert tenant.fetches == 2


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
    call, tenant, make_token, settings, fake_time, jwks_log, caplog, outage, logged
):
    settings.AUTH0_JWKS_CACHE_SECONDS = 600
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.respond = outage
    fake_time.advance(600)

    # Past the TTL: the refresh runs in the background, and fails.
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    failures = jwks_log.wait_for("JWKS fetch failed")
    assert call("/api/private", token=make_token(sub="auth0|user-3")).status_code == 200

    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING
    message = failures[0].getMessage()
    assert message.startswith(f"JWKS fetch failed issuer={ISSUER} url={tenant.jwks_url} reason=")
    assert logged in message
    assert "serving the cached key set" in message
    assert failures[0].exc_info is None
    assert "Traceback" not in caplog.text
    assert tenant.fetches == 2  # the failed refresh starts the cooldown: the third request did not refetch


def test_warm_outage_unknown_kid_is_503(call, tenant, make_token, new_key_token, settings, fake_time):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 5
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.respond = serve(500)
    fake_time.advance(5)

    assert_unavailable(call("/api/private", token=new_key_token), retry_after=5)
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    assert tenant.fetches == 2


def test_warm_outage_then_new_key_set_replaces_the_stale_one(
    call, tenant, make_token, new_key_token, settings, fake_time, jwks_log, other_rsa_key
):
    settings.AUTH0_JWKS_CACHE_SECONDS = 600
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 5
    old_token = make_token()
    assert call("/api/private", token=old_token).status_code == 200
    tenant.respond = serve(500)
    fake_time.advance(600)
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    assert len(jwks_log.wait_for("JWKS fetch failed")) == 1

    tenant.respond = serve_keys
    tenant.keys = [public_jwk(other_rsa_key, NEW_KID)]
    fake_time.advance(5)

    assert call("/api/private", token=new_key_token).status_code == 200
    assert_unknown_key(call("/api/private", token=old_token))
    assert tenant.fetches == 3


def test_warm_outage_past_stale_window_is_503(call, tenant, make_token, settings, fake_time, jwks_log):
    settings.AUTH0_JWKS_CACHE_SECONDS = 600
    settings.AUTH0_JWKS_STALE_SECONDS = 1200
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 5
    token = make_token()
    assert call("/api/private", token=token).status_code == 200
    tenant.respond = serve(500)

    fake_time.advance(600 + 1200 - 2)
    assert call("/api/private", token=token).status_code == 200  # the last moments of the stale window
    assert len(jwks_log.wait_for("JWKS fetch failed")) == 1
    fake_time.advance(2)

    assert_unavailable(call("/api/private", token=token), retry_after=3)  # the same token, validated before
    assert tenant.fetches == 2  # the refresh that failed 2 s ago holds the next one off for 3 s more
    fake_time.advance(3)
    assert_unavailable(call("/api/private", token=token), retry_after=5)
    assert tenant.fetches == 3


# -- cold outage --------------------------------------------------------------


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(serve(500, "internal error"), id="http-500"),
        pytest.param(serve(200, "not json"), id="not-json"),
        pytest.param(lambda _tenant: None, id="connection-drop"),
    ],
)
def test_cold_outage_is_503_then_recovers_once_cooldown_passed(call, tenant, make_token, settings, fake_time, outage):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 5
    token = make_token()
    tenant.respond = outage
    assert_unavailable(call("/api/private", token=token), retry_after=5)

    tenant.respond = serve_keys
    fake_time.advance(4.5)
    assert_unavailable(call("/api/private", token=token), retry_after=1)  # within the cooldown: no second fetch
    assert tenant.fetches == 1
    fake_time.advance(1)

    assert call("/api/private", token=token).status_code == 200
    assert tenant.fetches == 2


def test_cold_outage_connection_refused_is_503(call, tenant, make_token):
    tenant.stop()
    assert_unavailable(call("/api/private", token=make_token()))


# -- a stalled tenant: real deadlines ----------------------------------------


def test_key_cache_cold_key_from_dripping_tenant_is_unavailable_within_the_deadline(tenant, clock, record_property):
    tenant.respond = drip_head(every=DRIP_EVERY)
    cache = key_cache(tenant, clock, limits=STALL_LIMITS)

    started = time.monotonic()
    with pytest.raises(KeysUnavailable) as raised:
        cache.get_key(KID)
    elapsed = time.monotonic() - started

    record_property("cold_drip_unavailable_after_s", round(elapsed, 3))
    assert elapsed < STALL_LIMITS.deadline + 1
    assert raised.value.retry_after == POLICY.cooldown
    assert tenant.fetches == 1


def test_key_cache_dripping_refresh_releases_the_fetch_lock_at_the_deadline(
    tenant, clock, rsa_key, other_rsa_key, record_property
):
    cache = key_cache(tenant, clock, limits=STALL_LIMITS)
    assert cache.get_key(KID) is not None
    tenant.respond = drip_head(every=DRIP_EVERY)
    clock.advance(POLICY.ttl)

    started = time.monotonic()
    assert cache.get_key(KID) is not None  # answered from the cache; the refresh starts in the background
    assert tenant.wait_for_fetches(2) == 2
    with pytest.raises(KeysUnavailable):  # waits for the refresh in flight, which fails at its deadline
        cache.get_key(NEW_KID)
    elapsed = time.monotonic() - started

    tenant.respond = serve_keys
    tenant.keys = [public_jwk(rsa_key), public_jwk(other_rsa_key, NEW_KID)]
    clock.advance(POLICY.cooldown)
    new_key = cache.get_key(NEW_KID)

    record_property("dripping_refresh_failed_after_s", round(elapsed, 3))
    assert elapsed < STALL_LIMITS.deadline + MARGIN
    assert new_key is not None
    assert new_key.public_key.public_numbers() == other_rsa_key.public_key().public_numbers()
    assert tenant.fetches == 3


def test_hanging_tenant_refuses_key_fetch_within_timeouts_while_others_answer(
    call, tenant, make_token, new_key_token, settings, fake_time, record_property
):
    settings.AUTH0_JWKS_CONNECT_TIMEOUT = 0.1
    settings.AUTH0_JWKS_READ_TIMEOUT = 0.7
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 5
    assert call("/api/private", token=make_token()).status_code == 200
    tenant.hang()
    fake_time.advance(5)

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
    assert refused_after < 0.1 + 0.7 + MARGIN


@pytest.mark.parametrize(
    ("how", "cooldown"),
    [
        # a cooldown shorter than a fetch: the requests waiting for it must still not refetch
        pytest.param("silent", 0.05, id="hanging"),
        # as the defaults: cooldown == connect + read timeout
        pytest.param("dripping-body", STALL_LIMITS.deadline, id="dripping-body"),
        pytest.param("dripping-head", STALL_LIMITS.deadline, id="dripping-head"),
    ],
)
def test_stalled_tenant_cold_start_refuses_every_waiting_request_with_one_fetch(
    tenant, make_token, settings, record_property, how, cooldown
):
    settings.AUTH0_JWKS_CONNECT_TIMEOUT = STALL_LIMITS.connect_timeout
    settings.AUTH0_JWKS_READ_TIMEOUT = STALL_LIMITS.read_timeout
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = cooldown  # on the real clock: the fetch's own duration is the point
    stall(tenant, how)
    tokens = [make_token(sub=f"auth0|user-{n}") for n in range(5)]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        responses = list(pool.map(get_private, tokens))
    elapsed = time.monotonic() - started

    record_property(f"{how}_cold_all_refused_after_s", round(elapsed, 3))
    for response in responses:
        assert_unavailable(response)
    assert elapsed < STALL_LIMITS.deadline + MARGIN
    assert tenant.fetches == 1  # requests that waited for the failed fetch did not start another


# -- key set size -------------------------------------------------------------


def test_key_set_with_too_many_keys_is_refused(call, tenant, make_token, settings, rsa_key):
    settings.AUTH0_JWKS_MAX_KEYS = 3
    tenant.keys = [public_jwk(rsa_key, kid=f"key-{n}") for n in range(1, 5)]

    assert_unavailable(call("/api/private", token=make_token()))
    with pytest.raises(KeySetError, match=r"^key set has 4 keys, over the limit of 3$"):
        parse_key_set(jwk_set(*tenant.keys), dataclasses.replace(POLICY, max_keys=3))
    usable, _ = parse_key_set(jwk_set(*tenant.keys[:3]), dataclasses.replace(POLICY, max_keys=3))
    assert list(usable) == ["key-1", "key-2", "key-3"]


# -- key hygiene --------------------------------------------------------------

UNUSABLE_KEYS = [
    pytest.param({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, "kty is not RSA", id="kty-ec"),
    pytest.param({"kty": "oct", "k": "c2VjcmV0"}, "kty is not RSA", id="kty-oct"),
    pytest.param({"kty": DROP}, "kty is not RSA", id="kty-missing"),
    pytest.param({"use": "enc"}, "use is not sig", id="use-enc"),
    pytest.param({"alg": "HS256"}, "alg is not an allowed algorithm", id="alg-hs256"),
    pytest.param({"alg": "none"}, "alg is not an allowed algorithm", id="alg-none"),
    pytest.param({"alg": "RS384"}, "alg is not an allowed algorithm", id="alg-rs384-not-allowed"),
    pytest.param({"kid": DROP}, "a key has no usable kid", id="kid-missing"),
    pytest.param({"kid": ""}, "a key has no usable kid", id="kid-empty"),
    pytest.param({"kid": 7}, "a key has no usable kid", id="kid-not-string"),
    pytest.param({"kid": "k" * 257}, "a key has no usable kid", id="kid-too-long"),
    pytest.param({"d": "AQAB"}, "publishes private key material", id="private-d"),
    pytest.param({"p": "AQAB", "q": "AQAB"}, "publishes private key material", id="private-p-q"),
    pytest.param({"n": DROP}, "n or e is missing", id="n-missing"),
    pytest.param({"e": 65537}, "n or e is missing", id="e-number"),
    pytest.param({"n": "%%%"}, "n or e is not base64url", id="n-not-base64url"),
    pytest.param({"n": "A"}, "n or e is not base64url", id="n-truncated-base64url"),
    pytest.param({"n": ""}, "modulus is 0 bits, outside 2048 to 8192", id="n-empty"),
    pytest.param({"e": "AA"}, "exponent is not an odd number from 3 to 2^32", id="e-zero"),
    pytest.param({"key_ops": ["sign"]}, "key_ops does not allow verify", id="key-ops-sign-only"),
    pytest.param({"key_ops": ["encrypt", "wrapKey"]}, "key_ops does not allow verify", id="key-ops-encrypt"),
    pytest.param({"key_ops": "verify"}, "key_ops does not allow verify", id="key-ops-not-a-list"),
]


@pytest.mark.parametrize(("changes", "reason"), UNUSABLE_KEYS)
def test_signing_key_unusable_jwk_is_refused_with_reason(rsa_key, changes, reason):
    with pytest.raises(KeySetError, match=re.escape(reason)):
        signing_key(with_changes(public_jwk(rsa_key), changes), POLICY)


@pytest.mark.parametrize(("changes", "reason"), UNUSABLE_KEYS)
def test_parse_key_set_unusable_jwk_is_ignored_beside_a_usable_one(rsa_key, other_rsa_key, changes, reason):
    document = jwk_set(with_changes(public_jwk(other_rsa_key, kid="key-bad"), changes), public_jwk(rsa_key))

    usable, ignored = parse_key_set(document, POLICY)

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
    key = signing_key(with_changes(public_jwk(rsa_key), changes), POLICY)

    assert key.kid == KID
    assert key.public_key.public_numbers() == rsa_key.public_key().public_numbers()
    assert key.algorithm == ("RS256" if "alg" not in changes else None)


def test_signing_key_rs384_is_accepted_when_allowed(rsa_key):
    policy = dataclasses.replace(POLICY, algorithms=("RS256", "RS384"))

    assert signing_key(public_jwk(rsa_key, alg="RS384"), policy).algorithm == "RS384"


def test_signing_key_not_an_object_is_refused():
    with pytest.raises(KeySetError, match=r"^a key is not a JSON object$"):
        signing_key(["RSA"], POLICY)


# -- RSA key sanity: moduli and exponents written by hand, each rule in tests/test_keys.py

MODULUS_2048 = odd_number(2048)
BAD_EXPONENT = "exponent is not an odd number from 3 to 2^32"
# A few of the RSA rules (every one is in tests/test_keys.py): broken, each names itself after the kid.
BROKEN_RSA_KEYS = [
    pytest.param(MODULUS_2048, 1, BAD_EXPONENT, id="exponent-1"),
    pytest.param(MODULUS_2048 - 1, 65537, "modulus is even", id="modulus-even"),
    pytest.param(odd_number(65536), 65537, "modulus is over 8192 bits", id="modulus-65536-bits"),
    pytest.param(odd_number(1024), 65537, "modulus is 1024 bits, outside 2048 to 8192", id="modulus-1024-bits"),
    pytest.param(MODULUS_2048, "AQB", "n or e is not base64url", id="e-not-canonical"),
]


@pytest.mark.parametrize(("n", "e", "reason"), BROKEN_RSA_KEYS)
def test_signing_key_insane_rsa_numbers_are_refused_with_the_rule(n, e, reason):
    with pytest.raises(KeySetError) as raised:
        signing_key(rsa_jwk(n, e), POLICY)

    assert str(raised.value) == f"kid 'hand-made': {reason}"


@pytest.mark.parametrize(("n", "e", "reason"), BROKEN_RSA_KEYS)
def test_parse_key_set_insane_rsa_key_is_ignored_with_the_rule(rsa_key, n, e, reason):
    usable, ignored = parse_key_set(jwk_set(rsa_jwk(n, e), public_jwk(rsa_key)), POLICY)

    assert list(usable) == [KID]
    assert ignored == [f"kid 'hand-made': {reason}"]


def test_signing_key_generated_rsa_key_is_accepted(rsa_key):
    key = signing_key(public_jwk(rsa_key), POLICY)

    assert key.public_key.public_numbers() == rsa_key.public_key().public_numbers()


@pytest.mark.parametrize(
    ("bits", "reason"),
    [
        pytest.param(4096, "modulus is over 3072 bits", id="4096-bits"),
        pytest.param(3080, "modulus is 3080 bits, outside 2048 to 3072", id="3080-bits"),
    ],
)
def test_signing_key_modulus_over_lowered_max_rsa_bits_is_refused(settings, bits, reason):
    settings.AUTH0_JWKS_MAX_RSA_BITS = 3072

    with pytest.raises(KeySetError, match=rf"^kid 'hand-made': {re.escape(reason)}$"):
        signing_key(rsa_jwk(odd_number(bits)), runtime.key_policy(conf.get()))


def test_signing_key_modulus_at_lowered_max_rsa_bits_is_accepted(settings):
    settings.AUTH0_JWKS_MAX_RSA_BITS = 3072

    assert signing_key(rsa_jwk(odd_number(3072)), runtime.key_policy(conf.get())).public_key.key_size == 3072


def test_signing_key_modulus_under_raised_min_rsa_bits_is_refused(settings, rsa_key):
    settings.AUTH0_JWKS_MIN_RSA_BITS = 3072

    with pytest.raises(KeySetError, match=r"^kid 'key-1': modulus is 2048 bits, outside 3072 to 8192$"):
        signing_key(public_jwk(rsa_key), runtime.key_policy(conf.get()))


def test_jwks_command_prints_insane_rsa_keys_as_ignored_with_the_rule(tenant, settings, rsa_key):
    settings.AUTH0_JWKS_MAX_RSA_BITS = 3072
    tenant.keys = [
        rsa_jwk(odd_number(4096), kid="big-1"),
        rsa_jwk(MODULUS_2048, odd_number(2047), kid="huge-e"),
        rsa_jwk(MODULUS_2048 - 1, kid="even-n"),
        rsa_jwk(MODULUS_2048, 1, kid="e-1"),
        rsa_jwk(odd_number(65536), kid="giant-n"),
        public_jwk(rsa_key),
    ]
    out = io.StringIO()

    call_command("jwks", stdout=out)

    output = out.getvalue()
    assert "ignored: kid 'big-1': modulus is over 3072 bits" in output
    assert f"ignored: kid 'huge-e': {BAD_EXPONENT}" in output
    assert "ignored: kid 'even-n': modulus is even" in output
    assert f"ignored: kid 'e-1': {BAD_EXPONENT}" in output
    assert "ignored: kid 'giant-n': modulus is over 3072 bits" in output
    assert "usable: kid=key-1 alg=RS256 bits=2048" in output
    assert "1 usable signing key(s)." in output


def test_parse_key_set_duplicate_kid_first_usable_key_wins(rsa_key, other_rsa_key):
    unusable, first, second = (
        public_jwk(other_rsa_key, use="enc"),
        public_jwk(rsa_key),
        public_jwk(other_rsa_key),
    )

    for _ in range(3):  # deterministic, not an accident of ordering
        usable, ignored = parse_key_set(jwk_set(unusable, first, second), POLICY)
        assert usable[KID].public_key.public_numbers() == rsa_key.public_key().public_numbers()
        assert ignored == [f"kid {KID!r}: use is not sig", f"kid {KID!r}: duplicate kid, the first usable key is kept"]
    usable, _ = parse_key_set(jwk_set(second, first), POLICY)
    assert usable[KID].public_key.public_numbers() == other_rsa_key.public_key().public_numbers()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param(b"<html></html>", "response is not JSON", id="html"),
        pytest.param(b"\xff\xfe", "response is not JSON", id="not-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "response is not JSON", id="deeply-nested"),
        pytest.param(b"[]", "response is not a JSON object", id="array"),
        pytest.param(b"{}", 'response is not a JWK Set (no "keys" array)', id="no-keys"),
        pytest.param(b'{"keys": {}}', 'response is not a JWK Set (no "keys" array)', id="keys-not-array"),
        pytest.param(b'{"keys": []}', "key set has no usable signing key", id="empty"),
        pytest.param(b'{"keys": [1, "x"]}', "key set has no usable signing key; a key is not", id="keys-not-objects"),
    ],
)
def test_parse_key_set_not_a_usable_jwk_set_is_refused(document, reason):
    with pytest.raises(KeySetError, match=re.escape(reason)):
        parse_key_set(document, POLICY)


# -- OpenID Connect discovery -------------------------------------------------

EXPECTED_ISSUER = "https://tenant.example.com/"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param(
            {"issuer": "https://tenant.example.com"},
            "discovery document is for issuer 'https://tenant.example.com', not 'https://tenant.example.com/'",
            id="issuer-without-trailing-slash",
        ),
        pytest.param(
            {"issuer": "https://tenant.example.com//"},
            "discovery document is for issuer 'https://tenant.example.com//'",
            id="issuer-with-two-slashes",
        ),
        pytest.param(
            {"issuer": "https://TENANT.example.com/"},
            "discovery document is for issuer 'https://TENANT.example.com/'",
            id="issuer-other-case",
        ),
        pytest.param(
            {"issuer": "https://attacker.example.net/"},
            "discovery document is for issuer 'https://attacker.example.net/'",
            id="issuer-other-host",
        ),
        pytest.param({"issuer": DROP}, "discovery document is for issuer <NoneType>", id="issuer-missing"),
        pytest.param({"issuer": ["https://tenant.example.com/"]}, "is for issuer <list>", id="issuer-not-a-string"),
        pytest.param(
            {"jwks_uri": "http://tenant.example.com/.well-known/jwks.json"},
            "discovery document's jwks_uri is not an https URL",
            id="jwks-uri-plain-http",
        ),
        pytest.param(
            {"jwks_uri": "/.well-known/jwks.json"}, "discovery document's jwks_uri is not an https URL", id="relative"
        ),
        pytest.param({"jwks_uri": "https://"}, "discovery document's jwks_uri is not an https URL", id="no-host"),
        pytest.param({"jwks_uri": 443}, "discovery document's jwks_uri is not an https URL", id="jwks-uri-number"),
        pytest.param({"jwks_uri": DROP}, "discovery document's jwks_uri is not an https URL", id="jwks-uri-missing"),
    ],
)
def test_parse_discovery_wrong_document_is_refused(changes, reason):
    document = {"issuer": EXPECTED_ISSUER, "jwks_uri": "https://tenant.example.com/.well-known/jwks.json"}

    with pytest.raises(KeySetError, match=re.escape(reason)):
        parse_discovery(json.dumps(with_changes(document, changes)).encode(), EXPECTED_ISSUER)


@pytest.mark.parametrize(
    "jwks_uri",
    [
        pytest.param("https://tenant.example.com/.well-known/jwks.json", id="same-origin"),
        pytest.param("https://tenant.example.com/keys/rotated.json?v=2", id="same-origin-other-path-and-query"),
        pytest.param("https://tenant.example.com:443/jwks.json", id="same-origin-default-port-written"),
        pytest.param("https://TENANT.Example.com/jwks.json", id="same-origin-host-in-other-case"),
    ],
)
def test_parse_discovery_jwks_uri_on_the_issuers_origin_is_returned(jwks_uri):
    document = json.dumps({"issuer": EXPECTED_ISSUER, "jwks_uri": jwks_uri, "token_endpoint": "x"}).encode()

    assert parse_discovery(document, EXPECTED_ISSUER) == jwks_uri


OFF_ORIGIN = [
    pytest.param("https://keys.example.net/tenant/jwks.json", "https://keys.example.net:443", id="other-host"),
    pytest.param("https://tenant.example.com:8443/jwks.json", "https://tenant.example.com:8443", id="other-port"),
    pytest.param("https://sub.tenant.example.com/jwks.json", "https://sub.tenant.example.com:443", id="subdomain"),
    pytest.param("https://127.0.0.1:22/jwks.json", "https://127.0.0.1:22", id="loopback-port"),
    pytest.param("http://127.0.0.1:6379/jwks.json", "http://127.0.0.1:6379", id="plain-http-loopback"),
    pytest.param("http://localhost/jwks.json", "http://localhost:80", id="plain-http-localhost"),
    pytest.param("https://[::1]:8080/jwks.json", "https://[::1]:8080", id="ipv6-loopback"),
    pytest.param("https://10.0.0.1/jwks.json", "https://10.0.0.1:443", id="private-address"),
    pytest.param("https://169.254.169.254/latest/meta-data/", "https://169.254.169.254:443", id="link-local-metadata"),
    pytest.param(
        "https://tenant.example.com@evil.example.net/jwks.json", "https://evil.example.net:443", id="userinfo"
    ),
]


@pytest.mark.parametrize(("jwks_uri", "shown"), OFF_ORIGIN)
def test_parse_discovery_jwks_uri_off_the_issuers_origin_is_refused(jwks_uri, shown):
    document = json.dumps({"issuer": EXPECTED_ISSUER, "jwks_uri": jwks_uri}).encode()

    with pytest.raises(KeySetError) as raised:
        parse_discovery(document, EXPECTED_ISSUER)

    assert str(raised.value) == (
        f"discovery document's jwks_uri is on {shown}, not on the issuer's origin https://tenant.example.com:443; "
        "list its host in AUTH0_JWKS_HOSTS to fetch keys from there"
    )


@pytest.mark.parametrize(
    ("jwks_uri", "hosts", "allowed"),
    [
        pytest.param("https://keys.example.net/jwks.json", ("keys.example.net",), True, id="listed-host"),
        pytest.param("https://KEYS.example.net/jwks.json", ("keys.example.net",), True, id="listed-host-other-case"),
        pytest.param("https://keys.example.net:8443/j", ("keys.example.net:8443",), True, id="listed-host-and-port"),
        pytest.param("https://keys.example.net:8443/j", ("keys.example.net",), False, id="listed-host-other-port"),
        pytest.param("https://keys.example.net/jwks.json", ("keys.example.net:8443",), False, id="listed-other-port"),
        pytest.param("https://evil.keys.example.net/j", ("keys.example.net",), False, id="subdomain-of-listed"),
        pytest.param("https://keys.example.net/jwks.json", ("other.example.net",), False, id="another-listed"),
    ],
)
def test_parse_discovery_jwks_uri_on_a_listed_host(jwks_uri, hosts, allowed):
    document = json.dumps({"issuer": EXPECTED_ISSUER, "jwks_uri": jwks_uri}).encode()

    if allowed:
        assert parse_discovery(document, EXPECTED_ISSUER, hosts) == jwks_uri
    else:
        with pytest.raises(KeySetError, match="not on the issuer's origin"):
            parse_discovery(document, EXPECTED_ISSUER, hosts)


def test_key_cache_discovery_uses_the_documents_jwks_uri(tenant, clock, rsa_key):
    tenant.documents[DISCOVERY_PATH] = discovery(jwks_uri=tenant.url + "/keys/rotated.json")
    tenant.documents["/keys/rotated.json"] = serve_keys
    tenant.respond = serve(404)  # the JWKS path a default would have guessed
    cache = key_cache(tenant, clock, discover=True)

    key = cache.get_key(KID)

    assert key is not None
    assert key.public_key.public_numbers() == rsa_key.public_key().public_numbers()
    assert tenant.paths == [DISCOVERY_PATH, "/keys/rotated.json"]
    assert cache.url == tenant.url + "/keys/rotated.json"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param(
            lambda t: discovery(issuer=t.url),
            lambda t: f"discovery document is for issuer {t.url!r}, not {t.issuer!r}",
            id="issuer-without-trailing-slash",
        ),
        pytest.param(
            lambda t: discovery(issuer=t.issuer.replace("127.0.0.1", "localhost")),
            lambda t: "discovery document is for issuer 'http://localhost:",
            id="issuer-other-host",
        ),
        pytest.param(
            lambda t: discovery(jwks_uri="http://tenant.example.com" + JWKS_PATH),
            lambda t: "discovery document's jwks_uri is not an https URL",
            id="jwks-uri-plain-http-elsewhere",
        ),
        pytest.param(lambda t: serve(404), lambda t: "HTTP 404", id="no-discovery-document"),
    ],
)
def test_key_cache_discovery_refused_leaves_keys_unavailable_without_fetching_them(
    tenant, clock, monkeypatch, document, reason
):
    # The tenant doubles as an HTTP proxy: a key set request to the plain-http jwks_uri would arrive there.
    monkeypatch.setenv("HTTP_PROXY", tenant.url)
    monkeypatch.setenv("http_proxy", tenant.url)
    tenant.documents[DISCOVERY_PATH] = document(tenant)
    cache = key_cache(tenant, clock, discover=True)

    with pytest.raises(KeysUnavailable):
        cache.get_key(KID)
    clock.advance(POLICY.cooldown)
    with pytest.raises(KeySetError) as raised:
        cache.fetch_once()

    assert str(raised.value).startswith(f"discovery at {tenant.discovery_url} failed: {reason(tenant)}")
    assert tenant.paths == [DISCOVERY_PATH, DISCOVERY_PATH]
    assert cache.peek(KID) is None


def test_key_cache_discovery_outage_keeps_the_last_good_jwks_uri(tenant, clock, jwks_log, rsa_key, other_rsa_key):
    tenant.documents[DISCOVERY_PATH] = discovery(jwks_uri=tenant.url + "/keys/a.json")
    tenant.respond = serve_keys
    cache = key_cache(tenant, clock, discover=True)
    assert cache.get_key(KID) is not None
    tenant.documents[DISCOVERY_PATH] = serve(503, "down for maintenance")
    tenant.keys = [public_jwk(rsa_key), public_jwk(other_rsa_key, NEW_KID)]
    clock.advance(POLICY.ttl)  # both the key set and the discovered jwks_uri are due for a refresh

    new_key = cache.get_key(NEW_KID)  # waits for the refresh its lookup started

    assert new_key is not None
    assert new_key.public_key.public_numbers() == other_rsa_key.public_key().public_numbers()
    assert tenant.paths == [DISCOVERY_PATH, "/keys/a.json", DISCOVERY_PATH, "/keys/a.json"]
    (warning,) = [r for r in jwks_log.wait_for("OIDC discovery failed") if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        f"OIDC discovery failed issuer={tenant.issuer} reason=HTTP 503; keeping jwks_uri={tenant.url}/keys/a.json"
    )


def test_discovery_through_settings_finds_the_key_set(call, tenant, make_token, settings):
    discover_keys_of(settings, tenant)

    assert call("/api/private", token=make_token(iss=tenant.issuer)).status_code == 200
    assert tenant.paths == [DISCOVERY_PATH, JWKS_PATH]


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param(lambda t: t.url, id="issuer-without-trailing-slash"),
        pytest.param(lambda t: t.issuer + "tenant/", id="issuer-with-a-path"),
        pytest.param(lambda t: ISSUER, id="issuer-of-another-tenant"),
    ],
)
def test_discovery_issuer_mismatch_is_503_and_logs_warning(call, tenant, make_token, settings, jwks_log, issuer):
    discover_keys_of(settings, tenant)
    tenant.documents[DISCOVERY_PATH] = discovery(issuer=issuer(tenant))

    assert_unavailable(call("/api/private", token=make_token(iss=tenant.issuer)))
    assert tenant.paths == [DISCOVERY_PATH]  # the key set is not fetched
    (failure,) = jwks_log.matching("JWKS fetch failed")
    assert failure.levelno == logging.WARNING
    assert f"url={tenant.discovery_url} " in failure.getMessage()
    assert f"discovery document is for issuer {issuer(tenant)!r}, not {tenant.issuer!r}" in failure.getMessage()


# -- kid floods and concurrency -----------------------------------------------


def test_kid_flood_fetches_once_per_cooldown(call, tenant, make_token, settings, fake_time):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 5
    assert call("/api/private", token=make_token()).status_code == 200

    for window in range(3):
        for _ in range(25):
            assert_unknown_key(call("/api/private", token=make_token(kid=secrets.token_hex(8))))
        assert tenant.fetches == 1 + window  # the first window is the cold fetch's
        fake_time.advance(5)
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200


def test_kid_flood_from_many_threads_fetches_once_per_cooldown(tenant, clock):
    threads = 8
    cache = key_cache(
        tenant, clock, max_waiting=threads
    )  # all may wait on a refetch: the count of fetches is the point
    assert cache.get_key(KID) is not None
    start_together = threading.Barrier(threads)

    def flood(_: int) -> list[Any]:
        start_together.wait()
        return [cache.get_key(secrets.token_hex(8)) for _ in range(50)]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for window in range(3):
            found = [key for keys in pool.map(flood, range(threads)) for key in keys]
            assert found == [None] * threads * 50
            assert tenant.fetches == 1 + window  # 400 unknown kids in a cooldown: one refetch at most
            clock.advance(POLICY.cooldown)


def test_key_cache_waiting_at_the_limit_next_lookup_and_readiness_answer_without_waiting(tenant, clock):
    cache = key_cache(tenant, clock, max_waiting=1, limits=dataclasses.replace(LIMITS, read_timeout=30))
    tenant.hang()
    with ThreadPoolExecutor(max_workers=1) as pool:
        fetching = pool.submit(cache.get_key, KID)
        assert tenant.wait_for_fetches(1) == 1

        with pytest.raises(KeysUnavailable) as raised:
            cache.get_key(KID)
        assert raised.value.retry_after == POLICY.cooldown
        assert cache.ready() is False
        assert not fetching.done()  # both answered while the fetch was pending

        tenant.release()
        assert fetching.result(timeout=10) is not None
    assert cache.ready() is True
    assert tenant.fetches == 1


@pytest.mark.parametrize("via", ["validator", "requests"])
def test_cold_start_concurrent_validations_share_one_fetch(tenant, make_token, settings, via):
    tokens = [make_token(sub=f"auth0|user-{n}") for n in range(20)]
    settings.AUTH0_JWKS_MAX_WAITING = len(tokens)  # all may wait on the fetch: sharing it is the point
    validator = runtime.verifier().tokens
    start_together = threading.Barrier(len(tokens))

    def validate(token: str) -> str:
        start_together.wait()
        if via == "requests":
            response = get_private(token)
            return f"{response.status_code}"
        return validator.validate(token).subject

    tenant.hang()  # hold the first fetch so that every thread arrives while it is in flight
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        results = pool.map(validate, tokens)
        assert tenant.wait_for_fetches(1) == 1
        # Every thread queued behind the fetch held at the tenant (one of them running it).
        assert wait_for(lambda: threads_inside(KeySetCache._refresh_now) == len(tokens), timeout=5)
        tenant.release()
        expected = ["200"] * 20 if via == "requests" else [f"auth0|user-{n}" for n in range(20)]
        assert list(results) == expected

    assert tenant.fetches == 1


def test_background_refresh_after_ttl_keeps_cached_kid_answering(
    call, tenant, make_token, settings, fake_time, jwks_log, record_property
):
    settings.AUTH0_JWKS_CACHE_SECONDS = 600
    assert call("/api/private", token=make_token()).status_code == 200
    fake_time.advance(600)
    tenant.hang()

    started = time.monotonic()
    assert call("/api/private", token=make_token(sub="auth0|user-2")).status_code == 200
    answered_after = time.monotonic() - started
    assert tenant.wait_for_fetches(2) == 2  # the refresh, in the background, stuck at the tenant
    assert call("/api/private", token=make_token(sub="auth0|user-3")).status_code == 200
    tenant.release()
    assert len(jwks_log.wait_for("JWKS fetched", count=2)) == 2

    record_property("answered_during_refresh_after_s", round(answered_after, 3))
    assert answered_after < MARGIN  # far less than the fetch deadline: it did not wait for the tenant
    assert tenant.fetches == 2
    assert call("/api/private", token=make_token(sub="auth0|user-4")).status_code == 200
    assert tenant.fetches == 2  # fresh again


def test_key_cache_unchanged_key_keeps_its_identity_across_refresh(tenant, clock):
    cache = key_cache(tenant, clock)
    before = cache.get_key(KID)
    clock.advance(POLICY.cooldown)

    assert cache.get_key("unknown") is None  # forces a refetch of the same set
    assert tenant.fetches == 2
    assert cache.get_key(KID) is before


def test_key_cache_changed_key_under_the_same_kid_replaces_the_old_one(tenant, clock, other_rsa_key):
    cache = key_cache(tenant, clock)
    before = cache.get_key(KID)
    tenant.keys = [public_jwk(other_rsa_key)]
    clock.advance(POLICY.cooldown)

    assert cache.get_key("unknown") is None
    after = cache.get_key(KID)

    assert after is not before
    assert after is not None
    assert after.public_key.public_numbers() == other_rsa_key.public_key().public_numbers()


def test_key_cache_cold_failure_raises_unavailable_with_retry_after(tenant, clock):
    tenant.respond = serve(500)
    cache = key_cache(tenant, clock, cooldown=2.5)

    with pytest.raises(KeysUnavailable) as raised:
        cache.get_key(KID)
    assert raised.value.retry_after == 3
    assert raised.value.code == "jwks_unavailable"
    clock.advance(1)
    with pytest.raises(KeysUnavailable) as raised:
        cache.get_key(KID)
    assert raised.value.retry_after == 2
    assert cache.peek(KID) is None
    assert tenant.fetches == 1
