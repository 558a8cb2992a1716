"""Several issuers (custom domains, tenants): two stand-in tenants on loopback over HTTPS, each with its keys.

``AUTH0_DOMAIN`` lists both tenants (``127.0.0.1:P1,127.0.0.1:P2``; the ``tenants``
fixture of tests/support/two_tenants.py) and the test CA is trusted through
``SSL_CERT_FILE`` alone. Each tenant publishes its own RSA key under the same
kid, so only the token's ``iss`` can pick the key set: a stranger's ``iss`` is
refused before any key lookup, and each issuer's
key cache, cooldown and outage are its own. Then a resolver callable, OpenID
Connect discovery, ``manage.py jwks``, the system checks, and one real gunicorn.
Time moves on a ``FakeClock``; nothing in ``authn`` is mocked.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.checks import Error, run_checks
from django.core.management import call_command
from django.core.management.base import CommandError

from authn import runtime, status
from authn.devissuer import DEV_ISSUER
from authn.errors import AuthnError, KeysUnavailable
from authn.issuers import ResolvedIssuers
from authn.jwks import KeySetCache
from authn.tokens import TokenValidator
from tests.support.api import PRIVATE_MESSAGE, SCOPED_MESSAGE, get_private
from tests.support.builders import token_validator
from tests.support.network import connects, free_port, outbound_connections
from tests.support.servers import COMMANDS, Server, assert_clean, server_env, start, stop
from tests.support.tenant import (
    AUDIENCE,
    DISCOVERY_PATH,
    KID,
    TenantServer,
    discovery,
    public_jwk,
    serve,
    serve_keys,
    start_tenant,
)
from tests.support.two_tenants import COOLDOWN, TTL, domain_of
from tests.support.waiting import threads_inside, wait_for

KEYS_PATH = "/tenant/keys.json"  # where a discovery document says the key set is: not the default path
OTHER_KID = "key-2"

INVALID_HEADER, INVALID_CLAIMS, JWKS_UNAVAILABLE = "invalid_header", "invalid_claims", "jwks_unavailable"


# -- helpers ------------------------------------------------------------------


def assert_refused(response: Any, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (401, code)
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def assert_unavailable(response: Any, retry_after: int = COOLDOWN) -> None:
    assert (response.status_code, response.json()["code"]) == (503, JWKS_UNAVAILABLE)
    assert response["Retry-After"] == str(retry_after)
    assert "WWW-Authenticate" not in response


def warnings_saying(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


@pytest.fixture(scope="module")
def third_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# -- several domains: each token verified by its own issuer's keys only ------------


def test_several_domains_each_tenants_token_is_accepted(call, first, second, token_of):
    for tenant in (first, second):
        response = call("/api/private-scoped", token=token_of(tenant))
        assert (response.status_code, response.json()) == (200, {"message": SCOPED_MESSAGE})
    assert call("/api/private", token=token_of(first, sub="auth0|user-2")).status_code == 200

    assert (first.fetches, second.fetches) == (1, 1)
    assert first.requests[0]["User-Agent"].startswith("drf-auth0-authn/")


@pytest.mark.parametrize(
    "second_kid", [pytest.param(KID, id="both-publish-the-same-kid"), pytest.param(OTHER_KID, id="distinct-kids")]
)
def test_several_domains_token_signed_by_one_tenant_claiming_the_other_is_refused(
    call, first, second, token_of, other_rsa_key, fake_time, second_kid
):
    second.keys = [public_jwk(other_rsa_key, second_kid)]
    forged = token_of(first, iss=second.issuer)  # first's key, first's kid, second's iss

    # Cold: the token's iss picks the second tenant, whose keys alone are fetched.
    assert_refused(call("/api/private", token=forged), INVALID_HEADER)
    assert (first.fetches, second.fetches) == (0, 1)

    # Warm: both tenants' keys cached, and still the first tenant's key never verifies the second's iss.
    assert call("/api/private", token=token_of(first)).status_code == 200
    assert call("/api/private", token=token_of(second, kid=second_kid)).status_code == 200
    assert_refused(call("/api/private", token=forged), INVALID_HEADER)
    reverse = token_of(second, kid=second_kid, iss=first.issuer)
    assert_refused(call("/api/private", token=reverse), INVALID_HEADER)
    assert (first.fetches, second.fetches) == (1, 1)


def signed_claims(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    """A token of valid claims but ``iss``, which is as given, even not a string (``jwt.encode`` refuses that)."""
    now = int(time.time())
    payload = {"sub": "auth0|user-1", "aud": AUDIENCE, "iat": now, "exp": now + 3600, **claims}
    return jwt.api_jws.encode(json.dumps(payload).encode(), key, algorithm="RS256", headers={"kid": KID})


UNLISTED_ISSUERS = [
    pytest.param(lambda first, stranger: {"iss": stranger.issuer}, id="another-tenant-on-loopback"),
    pytest.param(lambda first, stranger: {"iss": first.url}, id="listed-without-trailing-slash"),
    pytest.param(lambda first, stranger: {"iss": first.issuer + "tenant/"}, id="listed-with-a-path"),
    pytest.param(lambda first, stranger: {"iss": first.issuer.replace("https:", "http:")}, id="listed-over-plain-http"),
    pytest.param(lambda first, stranger: {"iss": DEV_ISSUER}, id="development-issuer"),
    pytest.param(lambda first, stranger: {"iss": [first.issuer]}, id="a-list"),
    pytest.param(lambda first, stranger: {"iss": None}, id="null"),
    pytest.param(lambda first, stranger: {}, id="missing"),
]


@pytest.mark.parametrize("claims", UNLISTED_ISSUERS)
def test_several_domains_unlisted_iss_is_refused_without_any_fetch(call, first, second, stranger, rsa_key, claims):
    token = signed_claims(rsa_key, **claims(first, stranger))

    with outbound_connections() as seen:
        response = call("/api/private", token=token)

    assert_refused(response, INVALID_CLAIMS)
    assert (first.fetches, second.fetches, stranger.fetches) == (0, 0, 0)
    assert connects(seen) == []


def test_several_domains_cold_outage_at_one_tenant_is_503_for_its_tokens_only(
    call, first, second, token_of, fake_time, caplog
):
    first.respond = serve(500, "down")

    assert_unavailable(call("/api/private", token=token_of(first)))
    assert call("/api/private", token=token_of(second)).status_code == 200  # its cold fetch is not held back
    first.respond = serve_keys
    assert_unavailable(call("/api/private", token=token_of(first)))  # the first tenant's own cooldown
    assert (first.fetches, second.fetches) == (1, 1)

    fake_time.advance(COOLDOWN)
    assert call("/api/private", token=token_of(first)).status_code == 200
    assert call("/api/private", token=token_of(second, sub="auth0|user-2")).status_code == 200
    assert (first.fetches, second.fetches) == (2, 1)
    (failure,) = warnings_saying(caplog, "JWKS fetch failed")
    assert failure.startswith(f"JWKS fetch failed issuer={first.issuer} url={first.jwks_url} reason=HTTP 500")


def test_several_domains_kid_flood_at_one_tenant_fetches_nothing_at_the_other(call, first, second, token_of, fake_time):
    assert call("/api/private", token=token_of(first)).status_code == 200
    assert call("/api/private", token=token_of(second)).status_code == 200

    for window in range(2):
        for _ in range(20):
            assert_refused(call("/api/private", token=token_of(first, kid=secrets.token_hex(8))), INVALID_HEADER)
        assert call("/api/private", token=token_of(second, sub=f"auth0|user-{window}")).status_code == 200
        assert (first.fetches, second.fetches) == (1 + window, 1)  # one refetch per cooldown, at the first only
        fake_time.advance(COOLDOWN)


def test_several_domains_stalled_tenant_holds_none_of_the_others_requests(settings, call, first, second, token_of):
    settings.AUTH0_JWKS_READ_TIMEOUT = 30  # the held fetch ends when released, never by its deadline
    first.hang()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(get_private, token_of(first))
        assert first.wait_for_fetches(1) == 1  # the first tenant's cold fetch is under way, and held there

        assert call("/api/private", token=token_of(second)).status_code == 200  # a cold fetch of its own
        assert not pending.done()

        first.release()
        assert pending.result(timeout=10).status_code == 200
    assert (first.fetches, second.fetches) == (1, 1)


def test_several_domains_requests_waiting_on_one_tenant_are_bounded_the_next_gets_503_at_once(
    settings, call, first, second, token_of, fake_time
):
    settings.AUTH0_JWKS_READ_TIMEOUT = 30  # the held fetch ends when released, never by its deadline
    settings.AUTH0_JWKS_MAX_WAITING = 2
    first.hang()
    with ThreadPoolExecutor(max_workers=2) as pool:
        waiting = [pool.submit(get_private, token_of(first, sub=f"auth0|user-{n}")) for n in range(2)]
        assert first.wait_for_fetches(1) == 1
        assert wait_for(lambda: threads_inside(KeySetCache._refresh_now) == 2, timeout=5)  # one fetches, one waits

        assert_unavailable(call("/api/private", token=token_of(first, kid="unknown-kid")))
        assert not any(request.done() for request in waiting)  # refused while the fetch was still pending
        assert call("/api/private", token=token_of(second)).status_code == 200
        assert call("/api/public").status_code == 200
        assert not any(request.done() for request in waiting)

        first.release()
        assert [request.result(timeout=10).status_code for request in waiting] == [200, 200]
    assert (first.fetches, second.fetches) == (1, 1)


def test_several_domains_key_change_at_one_tenant_invalidates_only_its_cached_tokens(
    call, first, second, token_of, fake_time, third_rsa_key
):
    first_token, second_token = token_of(first), token_of(second)
    assert call("/api/private", token=first_token).status_code == 200
    assert call("/api/private", token=second_token).status_code == 200
    first.keys = [public_jwk(third_rsa_key)]  # the same kid, another key
    fake_time.advance(COOLDOWN)

    assert_refused(call("/api/private", token=token_of(first, kid="unknown-kid")), INVALID_HEADER)  # a refetch
    assert first.fetches == 2

    assert_refused(call("/api/private", token=first_token), INVALID_HEADER)  # its cached form is dropped
    assert call("/api/private", token=token_of(first, key=third_rsa_key)).status_code == 200
    assert call("/api/private", token=second_token).status_code == 200
    assert second.fetches == 1


@pytest.mark.parametrize("as_text", [pytest.param(False, id="list"), pytest.param(True, id="comma-separated")])
def test_several_domains_issuer_without_trailing_slash_is_trusted_beside_the_default_one(
    settings, call, first, second, token_of, as_text
):
    settings.AUTH0_ISSUER = first.url if as_text else [first.url]  # names the first domain's host

    assert call("/api/private", token=token_of(first, iss=first.url)).status_code == 200
    assert call("/api/private", token=token_of(second)).status_code == 200
    assert_refused(call("/api/private", token=token_of(first)), INVALID_CLAIMS)  # with the slash: not its issuer
    assert_refused(call("/api/private", token=token_of(first, iss=second.issuer)), INVALID_HEADER)
    assert_refused(call("/api/private", token=token_of(second, iss=first.url)), INVALID_HEADER)
    assert (first.fetches, second.fetches) == (1, 1)
    assert status.describe(runtime.current()) == (
        f"Trusting Auth0 2 issuers {first.url} (keys from {first.jwks_url}); "
        f"{second.issuer} (keys from {second.jwks_url}) for audience {AUDIENCE}"
    )


@pytest.mark.parametrize("as_text", [pytest.param(False, id="list"), pytest.param(True, id="comma-separated")])
def test_several_domains_start_up_line_lists_every_issuer(settings, first, second, as_text):
    if as_text:
        settings.AUTH0_DOMAIN = f"{domain_of(first)}, {domain_of(second)}"

    assert status.describe(runtime.current()) == (
        f"Trusting Auth0 2 issuers {first.issuer} (keys from {first.jwks_url}); "
        f"{second.issuer} (keys from {second.jwks_url}) for audience {AUDIENCE}"
    )


def test_readyz_several_domains_names_the_issuer_without_keys(client, first, second):
    first.respond = serve(500, "down")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "issuers": {first.issuer: "no usable signing keys", second.issuer: "ready"},
    }


# -- a resolver callable: the issuers trusted for each request -------------------------------


@pytest.fixture
def resolve_by_header(settings: Any, first: TenantServer, second: TenantServer) -> dict[str, Any]:
    """``AUTH0_DOMAIN`` as a resolver: the domains of the request's ``X-Tenant`` header; edit the returned table."""
    table: dict[str, Any] = {
        "first": [domain_of(first)],
        "second": [domain_of(second)],
        "both": [domain_of(first), domain_of(second)],
        "second-and-another": [domain_of(second), "login.example.com"],
        "none": [],
    }
    settings.AUTH0_DOMAIN = lambda request: table.get(request.headers.get("X-Tenant", ""), [])
    return table


def test_resolver_token_of_a_named_tenant_is_accepted(call, first, second, token_of, resolve_by_header):
    for tenant, named in ((first, "first"), (second, "second"), (first, "both"), (second, "both")):
        response = call("/api/private-scoped", token=token_of(tenant), HTTP_X_TENANT=named)
        assert (response.status_code, response.json()) == (200, {"message": SCOPED_MESSAGE}), named

    assert (first.fetches, second.fetches) == (1, 1)


@pytest.mark.parametrize(
    "named",
    [
        pytest.param("second-and-another", id="other-tenants-named"),
        pytest.param("second", id="one-other-tenant-named"),
        pytest.param("none", id="no-tenant-named"),
    ],
)
def test_resolver_token_of_a_tenant_not_named_is_refused_without_any_fetch(
    call, first, second, token_of, resolve_by_header, named
):
    with outbound_connections() as seen:
        response = call("/api/private", token=token_of(first), HTTP_X_TENANT=named)

    outcome = (response.status_code, response.json()["code"], first.fetches, second.fetches, len(connects(seen)))
    assert outcome == (401, INVALID_CLAIMS, 0, 0, 0)


def test_resolver_cached_token_is_refused_where_its_tenant_is_not_named(
    call, first, second, token_of, resolve_by_header
):
    token = token_of(first)
    assert call("/api/private", token=token, HTTP_X_TENANT="both").status_code == 200

    assert_refused(call("/api/private", token=token, HTTP_X_TENANT="second-and-another"), INVALID_CLAIMS)
    assert call("/api/private", token=token, HTTP_X_TENANT="first").status_code == 200
    assert (first.fetches, second.fetches) == (1, 0)


def test_resolver_outage_at_one_tenant_is_503_for_its_tokens_only(
    call, first, second, token_of, resolve_by_header, fake_time
):
    first.respond = serve(500, "down")

    assert_unavailable(call("/api/private", token=token_of(first), HTTP_X_TENANT="both"))
    assert call("/api/private", token=token_of(second), HTTP_X_TENANT="both").status_code == 200
    assert (first.fetches, second.fetches) == (1, 1)


def bad_entries(first: TenantServer) -> list[Any]:
    """What a resolver might wrongly return for ``first``: none of it is a domain."""
    domain = domain_of(first)
    return [first.url, first.issuer, f"{domain}/tenant", "127.0.0.1:1:2", "", " ", 42, None, domain.encode(), [domain]]


def test_resolver_bad_entries_are_ignored_each_with_a_warning(call, first, token_of, resolve_by_header, caplog):
    resolve_by_header["mixed"] = [*bad_entries(first), domain_of(first)]

    assert call("/api/private", token=token_of(first), HTTP_X_TENANT="mixed").status_code == 200
    assert first.fetches == 1
    assert warnings_saying(caplog, "AUTH0_DOMAIN resolver returned") == [
        f"AUTH0_DOMAIN resolver returned {str(bad)[:100]!r}, which is not a domain; ignored"
        for bad in bad_entries(first)
    ]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda first: None, id="none"),
        pytest.param(lambda first: (), id="nothing"),
        pytest.param(lambda first: [first.url], id="only-a-url"),
        pytest.param(lambda first: [42, b"x"], id="only-non-strings"),
    ],
)
def test_resolver_naming_no_usable_domain_refuses_without_any_fetch(
    call, first, second, token_of, resolve_by_header, answer
):
    resolve_by_header["bad"] = answer(first)

    with outbound_connections() as seen:
        response = call("/api/private", token=token_of(first), HTTP_X_TENANT="bad")

    assert response.status_code == 401
    assert (first.fetches, second.fetches) == (0, 0)
    assert connects(seen) == []


def test_resolver_start_up_line_says_issuers_are_decided_per_request(resolve_by_header):
    assert status.describe(runtime.current()) == (
        f"Trusting the issuers the domain resolver names for each request, for audience {AUDIENCE}"
    )


def test_resolver_disables_the_development_issuer(settings):
    settings.DEBUG = True
    settings.AUTH0_DOMAIN = lambda request: []

    assert runtime.dev_issuer() is None
    assert status.describe(runtime.current()).startswith("Trusting the issuers the domain resolver names")


# -- a resolver naming more issuers than key caches are kept ---------------------------------


def resolved_validator(max_issuers: int) -> tuple[TokenValidator, ResolvedIssuers]:
    """A validator as a resolver's, on the settings' key policy, keeping at most ``max_issuers`` key caches."""
    current = runtime.current()
    resolved = runtime.resolved_issuers(current.settings, current.clock, max_issuers)
    validator = token_validator(issuers=resolved, audiences=[AUDIENCE], clock=current.clock.wall)
    return validator, resolved


def test_resolver_naming_more_issuers_than_kept_fetches_each_at_most_once_per_cooldown(
    first, second, stranger, make_token, fake_time
):
    tenants = (first, second, stranger)
    validator, resolved = resolved_validator(max_issuers=2)
    named = frozenset(tenant.issuer for tenant in tenants)
    fetched_at: dict[TenantServer, list[float]] = {tenant: [] for tenant in tenants}
    refused: list[str] = []

    for step in range(60):  # junk tokens (unknown kids) cycling through the three, over six cooldowns
        tenant = tenants[step % len(tenants)]
        fetches = tenant.fetches
        with pytest.raises(AuthnError) as raised:
            validator.validate(make_token(iss=tenant.issuer, kid=secrets.token_hex(8)), named)
        refused.append(raised.value.code)
        fetched_at[tenant] += [fake_time()] * (tenant.fetches - fetches)
        assert len(resolved) <= 2
        fake_time.advance(COOLDOWN / 10)

    for tenant, times in fetched_at.items():
        assert times, tenant.issuer  # each is served in turn
        assert all(later - earlier >= COOLDOWN for earlier, later in itertools.pairwise(times)), times
    assert set(refused) == {INVALID_HEADER, JWKS_UNAVAILABLE}


def test_resolver_issuers_kept_all_within_cooldown_a_new_one_is_503_without_a_fetch(
    first, second, stranger, token_of, make_token, fake_time
):
    validator, resolved = resolved_validator(max_issuers=2)
    named = frozenset({first.issuer, second.issuer, stranger.issuer})
    first_token = token_of(first)
    validator.validate(first_token, named)
    fake_time.advance(1)
    validator.validate(token_of(second), named)
    fake_time.advance(1)

    with pytest.raises(KeysUnavailable) as raised:
        validator.validate(make_token(iss=stranger.issuer), named)
    assert raised.value.retry_after == COOLDOWN - 2  # when the first kept issuer's cooldown ends
    assert (stranger.fetches, set(resolved)) == (0, {first.issuer, second.issuer})

    fake_time.advance(COOLDOWN - 2)
    assert validator.validate(make_token(iss=stranger.issuer), named).issuer == stranger.issuer
    assert set(resolved) == {second.issuer, stranger.issuer}  # the one whose cooldown had passed went
    assert resolved.get(first.issuer) is None  # looking does not make a cache
    with pytest.raises(KeysUnavailable) as raised:  # nor does checking a cached token of the issuer that went
        validator.validate(first_token, named)
    assert raised.value.retry_after == 1  # the second's cooldown ends next
    assert (first.fetches, second.fetches, set(resolved)) == (1, 1, {second.issuer, stranger.issuer})


def test_resolver_issuer_whose_fetch_is_in_flight_is_kept(settings, first, second, token_of, fake_time):
    settings.AUTH0_JWKS_READ_TIMEOUT = 30  # the held fetch ends when released, never by its deadline
    validator, resolved = resolved_validator(max_issuers=1)
    named = frozenset({first.issuer, second.issuer})
    first.hang()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(validator.validate, token_of(first), named)
        assert first.wait_for_fetches(1) == 1
        fake_time.advance(COOLDOWN)  # its cooldown is over, its fetch is not

        with pytest.raises(KeysUnavailable):
            validator.validate(token_of(second), named)
        assert not pending.done()
        first.release()
        assert pending.result(timeout=10).issuer == first.issuer

    assert validator.validate(token_of(second), named).issuer == second.issuer
    assert (first.fetches, second.fetches, set(resolved)) == (1, 1, {second.issuer})


# -- OpenID Connect discovery, per issuer -----------------------------------------------------


@pytest.fixture
def discovering(settings: Any, first: TenantServer, second: TenantServer) -> tuple[TenantServer, TenantServer]:
    """Discovery on; each tenant's document sends its key set to ``KEYS_PATH``, and the default path is a 404."""
    settings.AUTH0_OIDC_DISCOVERY = True
    for tenant in (first, second):
        tenant.documents[DISCOVERY_PATH] = discovery(jwks_uri=tenant.url + KEYS_PATH)
        tenant.documents[KEYS_PATH] = serve_keys
        tenant.respond = serve(404)
    return first, second


def test_discovery_several_domains_each_documents_jwks_uri_is_used(
    call, first, second, token_of, discovering, fake_time
):
    for tenant in (first, second):
        assert call("/api/private", token=token_of(tenant)).status_code == 200
    assert first.paths == second.paths == [DISCOVERY_PATH, KEYS_PATH]

    fake_time.advance(COOLDOWN)  # an unknown kid refetches the key set; the document is still fresh
    assert_refused(call("/api/private", token=token_of(first, kid="unknown-kid")), INVALID_HEADER)
    assert first.paths == [DISCOVERY_PATH, KEYS_PATH, KEYS_PATH]
    assert second.paths == [DISCOVERY_PATH, KEYS_PATH]


def test_discovery_several_domains_issuers_without_trailing_slash_find_their_keys(
    settings, call, first, second, token_of, discovering
):
    settings.AUTH0_ISSUER = f"{second.url}, {first.url}"  # in any order: each names its domain's host
    for tenant in (first, second):
        tenant.documents[DISCOVERY_PATH] = discovery(issuer=tenant.url, jwks_uri=tenant.url + KEYS_PATH)

    for tenant, other in ((first, second), (second, first)):
        assert call("/api/private", token=token_of(tenant, iss=tenant.url)).status_code == 200
        assert_refused(call("/api/private", token=token_of(tenant, iss=other.url)), INVALID_HEADER)
    assert first.paths == second.paths == [DISCOVERY_PATH, KEYS_PATH]


def test_discovery_document_for_another_listed_issuer_is_503_with_a_log_line(
    call, first, second, token_of, discovering, caplog
):
    # The first tenant's document names the second, which this process also trusts: still not the first's.
    first.documents[DISCOVERY_PATH] = discovery(issuer=second.issuer, jwks_uri=first.url + KEYS_PATH)

    assert_unavailable(call("/api/private", token=token_of(first)))
    assert call("/api/private", token=token_of(second)).status_code == 200

    assert first.paths == [DISCOVERY_PATH]  # no key set fetched on the word of a document for someone else
    (failure,) = warnings_saying(caplog, "JWKS fetch failed")
    assert failure.startswith(f"JWKS fetch failed issuer={first.issuer} url={first.discovery_url} ")
    assert f"discovery document is for issuer {second.issuer!r}, not {first.issuer!r}" in failure


def test_discovery_jwks_uri_on_another_origin_is_not_fetched_and_the_issuer_is_not_ready(
    call, client, first, second, token_of, discovering, caplog
):
    first.documents[DISCOVERY_PATH] = discovery(jwks_uri=second.url + "/first/keys.json?from=first")  # another port
    refusal = f"discovery document's jwks_uri is on {second.url}, not on the issuer's origin {first.url}"

    assert_unavailable(call("/api/private", token=token_of(first)))
    (failure,) = warnings_saying(caplog, "JWKS fetch failed")
    assert refusal in failure
    assert (first.paths, second.paths) == ([DISCOVERY_PATH], [])  # nothing fetched where the document pointed

    readiness = client.get("/readyz")
    assert (readiness.status_code, readiness.json()["issuers"][first.issuer]) == (503, "no usable signing keys")
    with pytest.raises(CommandError) as raised:
        run_jwks_command()
    assert str(raised.value) == (
        f"Unusable key set from {first.discovery_url}: discovery at {first.discovery_url} failed: {refusal}; "
        "list its host in AUTH0_JWKS_HOSTS to fetch keys from there"
    )
    assert "/first/keys.json" not in second.paths  # the second tenant's own documents only, for its own checks


def test_discovery_jwks_uri_on_a_listed_host_is_fetched(settings, call, first, second, token_of, discovering):
    settings.AUTH0_JWKS_HOSTS = [domain_of(second)]
    first.documents[DISCOVERY_PATH] = discovery(jwks_uri=second.url + "/first/keys.json")
    second.documents["/first/keys.json"] = lambda tenant: serve_keys(first)  # the first's keys, served there

    assert call("/api/private", token=token_of(first)).status_code == 200
    assert (first.paths, second.paths) == ([DISCOVERY_PATH], ["/first/keys.json"])


def test_discovery_outage_after_a_good_fetch_keeps_serving(
    call, first, second, token_of, discovering, fake_time, caplog, third_rsa_key, rsa_key
):
    old_token = token_of(first)
    assert call("/api/private", token=old_token).status_code == 200
    first.documents[DISCOVERY_PATH] = serve(503, "down for maintenance")
    first.keys = [public_jwk(rsa_key), public_jwk(third_rsa_key, OTHER_KID)]
    fake_time.advance(TTL)  # the key set and the discovered jwks_uri are both due for a refresh

    assert call("/api/private", token=old_token).status_code == 200
    assert call("/api/private", token=token_of(first, key=third_rsa_key, kid=OTHER_KID)).status_code == 200

    assert first.paths == [DISCOVERY_PATH, KEYS_PATH, DISCOVERY_PATH, KEYS_PATH]
    (warning,) = warnings_saying(caplog, "OIDC discovery failed")
    assert warning == (
        f"OIDC discovery failed issuer={first.issuer} reason=HTTP 503; keeping jwks_uri={first.url}{KEYS_PATH}"
    )
    assert second.fetches == 0


# -- manage.py jwks -------------------------------------------------------------------------


def run_jwks_command() -> str:
    out = io.StringIO()
    call_command("jwks", stdout=out)
    return out.getvalue()


def test_jwks_command_several_domains_reports_each_issuer_in_turn(first, second):
    output = run_jwks_command()

    lines = output.splitlines()
    first_at, second_at = lines.index(f"Issuer {first.issuer}"), lines.index(f"Issuer {second.issuer}")
    assert first_at < second_at
    for tenant, report in ((first, lines[first_at:second_at]), (second, lines[second_at:])):
        assert report[1:] == [
            f"Fetching {tenant.jwks_url}",
            "usable: kid=key-1 alg=RS256 bits=2048",
            "1 usable signing key(s).",
        ]
    assert (first.fetches, second.fetches) == (1, 1)


def test_jwks_command_one_unusable_tenant_fails_naming_it_after_reporting_the_other(first, second):
    first.respond = serve(500, "down")
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:  # manage.py exits with status 1
        call_command("jwks", stdout=out)

    assert str(raised.value) == f"Unusable key set from {first.jwks_url}: HTTP 500"
    assert f"Issuer {first.issuer}\n" in out.getvalue()
    assert f"Issuer {second.issuer}\nFetching {second.jwks_url}\n" in out.getvalue()
    assert (first.fetches, second.fetches) == (1, 1)


def test_jwks_command_discovery_reports_each_document_and_key_set(first, second, discovering):
    output = run_jwks_command()

    for tenant in (first, second):
        assert (
            f"Issuer {tenant.issuer}\nDiscovering {tenant.discovery_url}\nFetching {tenant.url}{KEYS_PATH}\n" in output
        )
    assert first.paths == second.paths == [DISCOVERY_PATH, KEYS_PATH]


def test_jwks_command_resolver_is_an_error(settings):
    settings.AUTH0_DOMAIN = lambda request: []

    with pytest.raises(CommandError, match="AUTH0_DOMAIN is a resolver"):
        run_jwks_command()


# -- system checks ----------------------------------------------------------------------------


def authn_errors() -> dict[str, list[str]]:
    """The messages of each ``authn.`` error id the system checks report."""
    found: dict[str, list[str]] = {}
    for message in run_checks(include_deployment_checks=True):
        if isinstance(message, Error) and message.id.startswith("authn."):
            assert message.hint
            found.setdefault(message.id, []).append(message.msg)
    return found


@pytest.fixture
def domains_settings(tenant_settings: Any) -> Any:
    tenant_settings.AUTH0_DOMAIN = "dev-abc.us.auth0.com,login.example.com"
    return tenant_settings


def test_checks_several_domains_pass(domains_settings):
    assert authn_errors() == {}


@pytest.mark.parametrize(
    "issuers",
    [
        pytest.param("https://login.example.com", id="one-without-trailing-slash"),
        pytest.param("https://dev-abc.us.auth0.com/, https://login.example.com", id="comma-separated"),
        pytest.param(["https://login.example.com", "https://dev-abc.us.auth0.com"], id="list"),
        pytest.param("https://LOGIN.example.com:443", id="host-in-other-case-default-port-written"),
        pytest.param("https://login.example.com/tenant", id="with-a-path"),
    ],
)
def test_checks_several_domains_with_an_issuer_for_some_pass(domains_settings, issuers):
    domains_settings.AUTH0_ISSUER = issuers

    assert authn_errors() == {}


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param("dev-abc.us.auth0.com,login.example.com", id="comma-separated"),
        pytest.param(["dev-abc.us.auth0.com", "login.example.com"], id="list"),
        pytest.param(lambda request: ["login.example.com"], id="resolver"),
    ],
)
def test_checks_several_domains_with_a_jwks_url_is_e012(domains_settings, domain):
    domains_settings.AUTH0_DOMAIN = domain
    domains_settings.AUTH0_JWKS_URL = "https://login.example.com/keys.json"

    assert authn_errors() == {"authn.E012": ["AUTH0_JWKS_URL can only be set with a single AUTH0_DOMAIN."]}


def test_checks_resolver_with_an_issuer_is_e012(domains_settings):
    domains_settings.AUTH0_DOMAIN = lambda request: ["login.example.com"]
    domains_settings.AUTH0_ISSUER = "https://login.example.com"

    assert authn_errors() == {
        "authn.E012": [
            "AUTH0_ISSUER cannot be set with a resolver: each domain it returns is the issuer https://{domain}/."
        ]
    }


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param("https://other.example.com", id="another-host"),
        pytest.param("https://login.example.com:8443", id="another-port"),
        pytest.param("https://example.com", id="a-parent-domain"),
        pytest.param("https://auth.login.example.com", id="a-subdomain"),
    ],
)
@pytest.mark.parametrize(
    "domain",
    [
        pytest.param("dev-abc.us.auth0.com,login.example.com", id="several-domains"),
        pytest.param("login.example.com", id="one-domain-of-two-issuers"),
    ],
)
def test_checks_issuer_naming_no_domain_is_e025(domains_settings, issuer, domain):
    domains_settings.AUTH0_DOMAIN = domain
    domains_settings.AUTH0_ISSUER = ["https://login.example.com/", issuer]

    assert authn_errors() == {
        "authn.E025": [f"AUTH0_ISSUER lists {issuer!r}, whose host and port are those of no AUTH0_DOMAIN entry."]
    }


def test_checks_two_issuers_for_one_domain_is_e026(domains_settings):
    domains_settings.AUTH0_ISSUER = (
        "https://login.example.com, https://dev-abc.us.auth0.com/, https://login.example.com/"
    )

    assert authn_errors() == {
        "authn.E026": [
            "AUTH0_ISSUER lists two issuers for the domain 'login.example.com': "
            "'https://login.example.com' and 'https://login.example.com/'."
        ]
    }


@pytest.mark.parametrize(
    ("issuers", "message"),
    [
        pytest.param(
            "https://login.example.com, http://dev-abc.us.auth0.com",
            "AUTH0_ISSUER must be an https URL (plain http only for a loopback host), got 'http://dev-abc.us.auth0.com'.",
            id="plain-http",
        ),
        pytest.param(
            ["https://login.example.com", "dev-abc.us.auth0.com"],
            "AUTH0_ISSUER must be an https URL (plain http only for a loopback host), got 'dev-abc.us.auth0.com'.",
            id="a-domain-not-an-issuer",
        ),
        pytest.param(42, "AUTH0_ISSUER must be a string or a list of https URLs, got int.", id="a-number"),
    ],
)
def test_checks_several_domains_with_an_issuer_not_https_is_e005(domains_settings, issuers, message):
    domains_settings.AUTH0_ISSUER = issuers

    assert authn_errors()["authn.E005"] == [message]


@pytest.mark.parametrize(
    "domain", [pytest.param("login.example.com", id="text"), pytest.param(["login.example.com"], id="one-item-list")]
)
def test_checks_single_domain_with_overrides_passes(domains_settings, domain):
    domains_settings.AUTH0_DOMAIN = domain
    domains_settings.AUTH0_ISSUER = "https://login.example.com/"
    domains_settings.AUTH0_JWKS_URL = "https://login.example.com/keys.json"

    assert authn_errors() == {}


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("https://login.example.com", id="scheme"),
        pytest.param("a/b", id="path"),
        pytest.param("login.example.com:443:443", id="two-ports"),
        pytest.param("login.example.com:99999", id="port-out-of-range"),
        pytest.param("login example.com", id="inner-space"),
        pytest.param("user@login.example.com", id="userinfo"),
    ],
)
@pytest.mark.parametrize("as_text", [pytest.param(False, id="list"), pytest.param(True, id="comma-separated")])
def test_checks_bad_entry_in_several_domains_is_e001_naming_it(domains_settings, bad, as_text):
    entries = ["dev-abc.us.auth0.com", bad]
    domains_settings.AUTH0_DOMAIN = ",".join(entries) if as_text else entries

    (message,) = authn_errors()["authn.E001"]
    assert f"{bad!r} is not one" in message


def test_checks_resolver_domain_passes(domains_settings):
    domains_settings.AUTH0_DOMAIN = lambda request: ["login.example.com"]

    assert authn_errors() == {}


# -- the real server: gunicorn configured by the environment alone -------------------------------


@pytest.fixture(scope="module")
def served_tenants(
    certificate_authority: dict[str, Path], rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> Iterator[tuple[TenantServer, TenantServer]]:
    first, second = start_tenant(rsa_key, certificate_authority), start_tenant(other_rsa_key, certificate_authority)
    yield first, second
    first.stop()
    second.stop()


def several_domains_env(tenants: tuple[TenantServer, TenantServer], ca: Path) -> dict[str, str]:
    env = server_env(AUTH0_DOMAIN=",".join(domain_of(t) for t in tenants), AUTH0_AUDIENCE=AUDIENCE)
    env.pop("REQUESTS_CA_BUNDLE", None)
    env["SSL_CERT_FILE"] = str(ca)
    return env


@pytest.fixture(scope="module")
def multi_tenant_server(
    served_tenants: tuple[TenantServer, TenantServer],
    certificate_authority: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    port = free_port()
    env = several_domains_env(served_tenants, certificate_authority["ca"])
    command = [*COMMANDS["gunicorn"](port), "--workers", "1"]  # the last of each option wins
    served = start(command, env, tmp_path_factory.mktemp("issuers") / "server.log", port)
    yield served
    stop(served)
    assert_clean(served.log_text())


def test_gunicorn_several_domains_accept_each_tenants_tokens(
    multi_tenant_server, served_tenants, make_token, rsa_key, other_rsa_key
):
    first, second = served_tenants
    for tenant, key in ((first, rsa_key), (second, other_rsa_key)):
        response = multi_tenant_server.get("/api/private-scoped", make_token(iss=tenant.issuer, key=key))
        assert (response.status_code, response.json()) == (200, {"message": SCOPED_MESSAGE})
        assert multi_tenant_server.get("/api/private/", make_token(iss=tenant.issuer, key=key)).json() == {
            "message": PRIVATE_MESSAGE
        }


def test_gunicorn_several_domains_refuse_cross_tenant_and_unlisted_tokens(
    multi_tenant_server, served_tenants, make_token, rsa_key
):
    first, second = served_tenants
    forged = multi_tenant_server.get("/api/private", make_token(iss=second.issuer, key=rsa_key))
    assert (forged.status_code, forged.json()["code"]) == (401, INVALID_HEADER)

    fetches = (first.fetches, second.fetches)
    for iss in ("https://login.example.com/", first.url):
        unlisted = multi_tenant_server.get("/api/private", make_token(iss=iss, key=rsa_key, sub=iss))
        assert (unlisted.status_code, unlisted.json()["code"]) == (401, INVALID_CLAIMS)
        assert 'error="invalid_token"' in unlisted.headers["WWW-Authenticate"]
    assert (first.fetches, second.fetches) == fetches


def test_gunicorn_several_domains_start_up_line_names_both_issuers(multi_tenant_server, served_tenants):
    first, second = served_tenants
    lines = [line for line in multi_tenant_server.log_text().splitlines() if "Trusting" in line]
    assert lines  # one per worker
    for line in lines:
        assert "Trusting Auth0 2 issuers " in line
        assert f"{first.issuer} (keys from {first.jwks_url}); {second.issuer} (keys from {second.jwks_url})" in line


@pytest.fixture
def hanging_tenant(certificate_authority: dict[str, Path], rsa_key: rsa.RSAPrivateKey) -> Iterator[TenantServer]:
    """An HTTPS tenant holding every request until the test ends."""
    server = start_tenant(rsa_key, certificate_authority)
    server.hang()
    yield server
    server.stop()


@pytest.fixture
def answering_tenant(
    certificate_authority: dict[str, Path], other_rsa_key: rsa.RSAPrivateKey
) -> Iterator[TenantServer]:
    server = start_tenant(other_rsa_key, certificate_authority)
    yield server
    server.stop()


def hammer(served: Server, token: str, stop_hammering: threading.Event) -> list[int]:
    """Requests with ``token``, one after the other, until told to stop: their statuses. Each on a connection
    of its own, so that every worker gets its share."""
    statuses = []
    while not stop_hammering.is_set():
        statuses.append(served.get("/api/private", token, Connection="close").status_code)
    return statuses


def timed_answers(served: Server, token: str, rounds: int) -> tuple[list[int], list[float]]:
    """The statuses of ``rounds`` calls each of ``/api/private`` with ``token`` and of ``/api/public``, and
    how long each took (seconds)."""
    statuses, latencies = [], []
    for _ in range(rounds):
        for path, credentials in (("/api/private", token), ("/api/public", None)):
            started = time.monotonic()
            statuses.append(served.get(path, credentials).status_code)
            latencies.append(time.monotonic() - started)
    return statuses, latencies


def test_gunicorn_tenant_hanging_under_load_leaves_the_others_answered(
    hanging_tenant,
    answering_tenant,
    certificate_authority,
    tmp_path,
    make_token,
    rsa_key,
    other_rsa_key,
    record_property,
):
    env = several_domains_env((hanging_tenant, answering_tenant), certificate_authority["ca"])
    env["DJANGO_SETTINGS_MODULE"] = "tests.patient_keys_settings"  # a held fetch stays in flight
    port = free_port()
    served = start(COMMANDS["gunicorn"](port), env, tmp_path / "server.log", port)  # 2 workers x 4 threads
    hanging_token = make_token(iss=hanging_tenant.issuer, key=rsa_key)
    stop_hammering = threading.Event()
    try:
        with ThreadPoolExecutor(max_workers=24) as pool:
            hammers = [pool.submit(hammer, served, hanging_token, stop_hammering) for _ in range(24)]
            try:
                assert hanging_tenant.wait_for_fetches(1, timeout=30) >= 1  # held at the tenant
                statuses, latencies = timed_answers(
                    served, make_token(iss=answering_tenant.issuer, key=other_rsa_key), 20
                )
                log = served.log_text()
            finally:
                stop_hammering.set()
                hanging_tenant.release()
            hammered = [status for done in hammers for status in done.result()]
    finally:
        stop(served)

    record_property("answering_median_ms", round(statistics.median(latencies) * 1000, 1))
    record_property("answering_p95_ms", round(statistics.quantiles(latencies, n=20)[-1] * 1000, 1))
    record_property("answering_max_ms", round(max(latencies) * 1000, 1))
    assert statuses == [200] * 40
    assert f"JWKS fetch failed issuer={hanging_tenant.issuer}" not in log  # all answered while every fetch was held
    assert set(hammered) == {200, 503}  # refused at once while held, accepted once released
    assert_clean(served.log_text())
