"""Tokens beyond DRF's sync views: plain Django views with ``auth0_required`` (sync and ``async def``), adrf's
async ``APIView`` with authn's DRF classes, and ``authn.verify`` / ``authn.averify`` called directly.

Routed by this module's URLconf; sync views through Django's test client, async ones through its
``AsyncClient`` (the ASGI handler), with tokens the stand-in tenant's key signs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

import pytest
from adrf.views import APIView as AsyncAPIView
from asgiref.sync import ThreadSensitiveContext, async_to_sync
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from django.urls import path
from rest_framework.response import Response

import authn
from authn.authentication import Auth0JWTAuthentication, Auth0UserAuthentication
from authn.decorators import auth0_required
from authn.errors import AuthnError
from authn.permissions import HasScope
from tests.support.dpop_client import ProofKey
from tests.support.refusals import assert_logged_once
from tests.support.tenant import ISSUER, serve


@auth0_required
def plain(request):
    return JsonResponse({"sub": request.auth.subject})


@auth0_required(scopes=["read:messages"])
def plain_scoped(request):
    return JsonResponse({"sub": request.auth.subject, "scopes": sorted(request.auth.scopes)})


@auth0_required(scopes=("read:messages",))
async def async_scoped(request):
    return JsonResponse({"sub": request.auth.subject})


def direct(request):
    """A view calling the pipeline itself: the token, or the refusal's parts."""
    try:
        token = authn.verify(request)
    except AuthnError as error:
        return JsonResponse({"status": error.status, **error.body, "headers": error.headers})
    return JsonResponse({"iss": token.issuer, "again": authn.verify(request) is token})


async def direct_async(request):
    try:
        token = await authn.averify(request)
    except AuthnError as error:
        return JsonResponse({"status": error.status, **error.body, "headers": error.headers})
    return JsonResponse({"iss": token.issuer})


async def public_async(request):
    return JsonResponse({"public": True})


class AsyncScopedApi(AsyncAPIView):
    authentication_classes = (Auth0JWTAuthentication,)
    permission_classes = (HasScope,)
    required_scopes: ClassVar = {"GET": ["read:messages"], "POST": ["write:messages"]}

    async def get(self, request):
        return Response({"sub": request.auth.subject, "user": request.user.get_username()})

    async def post(self, request):
        return Response({"written": True})


class AsyncUserApi(AsyncAPIView):
    authentication_classes = (Auth0UserAuthentication,)

    async def get(self, request):
        return Response({"username": request.user.get_username(), "model": type(request.user).__name__})


urlpatterns = [
    path("plain", plain),
    path("plain-scoped", plain_scoped),
    path("async-scoped", async_scoped),
    path("direct", direct),
    path("direct-async", direct_async),
    path("adrf", AsyncScopedApi.as_view()),
    path("adrf-user", AsyncUserApi.as_view()),
    path("public-async", public_async),
]
pytestmark = pytest.mark.urls(__name__)

CREDENTIALS_CHALLENGE = 'Bearer realm="api", DPoP algs="ES256"'
INVALID_REQUEST = 'Bearer realm="api", error="invalid_request"'
INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'
DPOP_KEY = ProofKey()


@pytest.fixture
def bearer(tenant, make_token):
    """``bearer(**claims)``: the Authorization header of a token of those claims."""
    return lambda **claims: {"HTTP_AUTHORIZATION": f"Bearer {make_token(**claims)}"}


def through_asgi(send):
    """``send``, a method of Django's ``AsyncClient`` (its ASGI handler, as an async view is served), called
    with the ``HTTP_AUTHORIZATION=`` (and other ``HTTP_*``) the sync client takes; the response once it has come."""

    def request(url, **meta):
        headers = {name.removeprefix("HTTP_").replace("_", "-"): value for name, value in meta.items() if value}
        return async_to_sync(send)(url, headers=headers)

    return request


@pytest.fixture
def get_async(async_client):
    return through_asgi(async_client.get)


@pytest.fixture
def post_async(async_client):
    return through_asgi(async_client.post)


def assert_refused(response, status, code, challenge=None):
    assert response.status_code == status
    assert response.json() == {"code": code, "description": response.json()["description"]}
    assert response["Content-Type"] == "application/json"
    if challenge is not None:
        assert response["WWW-Authenticate"] == challenge


# -- auth0_required on plain Django views -------------------------------------------------------


def test_decorated_view_gets_the_token_as_request_auth(client, bearer):
    assert client.get("/plain", **bearer(sub="auth0|7")).json() == {"sub": "auth0|7"}


def test_decorated_view_scopes_are_all_required(client, bearer):
    assert client.get("/plain-scoped", **bearer()).status_code == 200
    assert_refused(
        client.get("/plain-scoped", **bearer(scope="openid")),
        403,
        "insufficient_scope",
        'Bearer realm="api", error="insufficient_scope", scope="read:messages"',
    )


# Each surface of this module, and the client serving it: sync views through the test client, async ones
# through AsyncClient. The direct views answer 200 with what the refusal told them (its status, body, headers).
SURFACES = {
    "/plain": "sync",
    "/plain-scoped": "sync",
    "/async-scoped": "async",
    "/adrf": "async",
    "/direct": "sync",
    "/direct-async": "async",
}


def no_credentials(make_token, url):
    return {}


def authorization(value):
    return lambda make_token, url: {"HTTP_AUTHORIZATION": value}


def bearer_of(**claims):
    return lambda make_token, url: {"HTTP_AUTHORIZATION": f"Bearer {make_token(**claims)}"}


def dpop_without_nonce(make_token, url):
    token = make_token(cnf={"jkt": DPOP_KEY.thumbprint})
    return {
        "HTTP_AUTHORIZATION": f"DPoP {token}",
        "HTTP_DPOP": DPOP_KEY.proof("GET", f"http://testserver{url}", token=token),
    }


def organizations(*entries):
    def prepare(settings, tenant):
        settings.AUTH0_ORGANIZATIONS = list(entries)

    return prepare


def tenant_down(settings, tenant):
    tenant.respond = serve(500, "down")


def nonces_on(settings, tenant):
    settings.AUTH0_DPOP_NONCE = True


def refusal_of(url, response):
    """(status, body, headers) of a refusal: the response's own, or what a direct view was told."""
    if url.startswith("/direct"):
        told = response.json()
        return told["status"], {"code": told["code"], "description": told["description"]}, told["headers"]
    assert response["Content-Type"] == "application/json"
    headers = {name: response[name] for name in ("WWW-Authenticate", "Retry-After", "DPoP-Nonce") if name in response}
    return response.status_code, response.json(), headers


# The error table, row by row: what the request carries (after ``prepare(settings, tenant)``), and its answer.
REFUSALS = [
    pytest.param(None, no_credentials, 401, "authorization_header_missing", CREDENTIALS_CHALLENGE, id="no-header"),
    pytest.param(None, authorization("Basic eDp5"), 401, "invalid_header", INVALID_REQUEST, id="other-scheme"),
    pytest.param(None, authorization("Bearer a.b.c"), 401, "invalid_header", INVALID_TOKEN, id="malformed-token"),
    pytest.param(None, authorization("Bearer " + "a" * 9000), 401, "invalid_header", INVALID_TOKEN, id="oversized"),
    pytest.param(None, bearer_of(exp=1), 401, "token_expired", INVALID_TOKEN, id="expired"),
    pytest.param(None, bearer_of(aud="https://other.example.com"), 401, "invalid_claims", INVALID_TOKEN,
                 id="other-audience"),
    pytest.param(None, bearer_of(iss="https://evil.example.com/"), 401, "invalid_claims", INVALID_TOKEN,
                 id="other-issuer"),
    pytest.param(organizations("org_abc", "acme"), bearer_of(org_id="org_other", org_name="other"), 401,
                 "invalid_claims", INVALID_TOKEN, id="organization-not-listed"),
    pytest.param(None, bearer_of(cnf={"jkt": DPOP_KEY.thumbprint}), 401, "invalid_header",
                 f'{INVALID_TOKEN}, DPoP algs="ES256"', id="dpop-bound-token-as-bearer"),
    pytest.param(None, bearer_of(cnf={"x5t#S256": "abc"}), 401, "invalid_header", INVALID_TOKEN,
                 id="certificate-bound-token-as-bearer"),
    pytest.param(nonces_on, dpop_without_nonce, 401, "use_dpop_nonce", 'DPoP error="use_dpop_nonce", algs="ES256"',
                 id="dpop-proof-without-nonce"),
    pytest.param(tenant_down, bearer_of(), 503, "jwks_unavailable", None, id="tenant-down"),
]  # fmt: skip


@pytest.mark.parametrize(("prepare", "sent", "status", "code", "challenge"), REFUSALS)
@pytest.mark.parametrize("url", list(SURFACES))
def test_refusal_is_the_drf_views_on_every_surface(
    client, get_async, tenant, make_token, settings, tmp_path, url, prepare, sent, status, code, challenge
):
    """The decorator (sync and ``async def``), adrf, and ``authn.verify`` / ``averify`` called directly refuse
    each request as the DRF views do: the same status, ``{code, description}`` body and ``WWW-Authenticate``;
    ``Retry-After`` when the keys cannot be had, ``DPoP-Nonce`` when a nonce is asked for; never the token."""
    settings.AUTH0_DPOP_REPLAY_FILE = str(tmp_path / "jti.sqlite3")
    if prepare is not None:
        prepare(settings, tenant)
    meta = sent(make_token, url)
    response = (client.get if SURFACES[url] == "sync" else get_async)(url, **meta)
    answered, body, headers = refusal_of(url, response)
    assert answered == status
    assert set(body) == {"code", "description"}
    assert body["code"] == code
    assert headers.get("WWW-Authenticate") == challenge
    if status == 503:
        assert int(headers["Retry-After"]) >= 1
    if code == "use_dpop_nonce":
        assert headers["DPoP-Nonce"]
    credential = meta.get("HTTP_AUTHORIZATION", "").rpartition(" ")[2]
    assert not credential or credential not in response.content.decode()


def test_decorated_view_refusal_is_logged_once(client, tenant, caplog):
    client.get("/plain", HTTP_AUTHORIZATION="Bearer a.b.c")
    assert [r.getMessage() for r in caplog.records if r.name == "authn" and "refused" in r.getMessage()] == [
        "refused status=401 code=invalid_header path='/plain' scheme='bearer'"
    ]
    assert [r for r in caplog.records if r.name == "django.request"] == []  # not once more by Django


@pytest.mark.parametrize(
    ("prepare", "claims", "level", "code", "prefix"),
    [
        pytest.param(None, {"aud": "https://x.example.com"}, logging.INFO, "invalid_claims", "unverified_", id="401"),
        pytest.param(None, {"scope": "openid"}, logging.INFO, "insufficient_scope", "", id="403"),
        pytest.param(tenant_down, {}, logging.WARNING, "jwks_unavailable", "unverified_", id="503"),
    ],
)
@pytest.mark.parametrize("url", ["/plain-scoped", "/async-scoped", "/adrf"])
def test_refusal_with_a_token_is_logged_once_with_its_kid_iss_and_sub_never_the_token(
    client, get_async, tenant, make_token, settings, caplog, url, prepare, claims, level, code, prefix
):
    """As on the DRF views: one line (INFO, WARNING for a 503) with the code, the path and what the token says
    (``unverified_`` while its signature is not checked); the token nowhere, and no second line from Django."""
    if prepare is not None:
        prepare(settings, tenant)
    token = make_token(**claims)
    with caplog.at_level(logging.INFO):
        (client.get if SURFACES[url] == "sync" else get_async)(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_logged_once(caplog, level=level, code=code, path=url, token=token, prefix=prefix)


def test_decorated_view_expired_token_and_unavailable_keys(client, tenant, bearer, fake_time):
    assert_refused(client.get("/plain", **bearer(exp=1)), 401, "token_expired")
    tenant.respond = lambda server: None  # the tenant drops every connection from now on
    response = client.get("/plain", **bearer(kid="rotated"))
    fake_time.advance(60)
    response = client.get("/plain", **bearer(kid="rotated-again"))
    assert_refused(response, 503, "jwks_unavailable")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "scopes",
    [pytest.param("read:messages", id="a-string"), pytest.param([""], id="empty"), pytest.param([1], id="number")],
)
def test_decorator_wrong_scopes_are_improperly_configured(scopes):
    with pytest.raises(ImproperlyConfigured, match="auth0_required"):
        auth0_required(scopes=scopes)


def test_async_decorated_view(get_async, bearer):
    assert get_async("/async-scoped", **bearer(sub="auth0|async")).json() == {"sub": "auth0|async"}
    assert_refused(get_async("/async-scoped", **bearer(scope="")), 403, "insufficient_scope")
    assert_refused(get_async("/async-scoped"), 401, "authorization_header_missing", CREDENTIALS_CHALLENGE)


def test_async_view_waiting_on_a_key_fetch_leaves_the_event_loop_to_others(async_client, tenant, make_token):
    """A token whose keys are fetched from a hanging tenant: meanwhile another request is answered.

    As a server runs Django's ASGI handler: an event loop of its own (``asyncio.run``, not ``async_to_sync``,
    which sends every thread-sensitive call back to the calling thread) and each request in a context of
    its own, so the project's sync middleware runs in a thread per request, not in one they all queue for.
    """
    tenant.hang()

    async def get(url, **headers):
        async with ThreadSensitiveContext():
            return await async_client.get(url, headers=headers)

    async def scenario():
        waiting = asyncio.ensure_future(get("/async-scoped", Authorization=f"Bearer {make_token()}"))
        while tenant.fetches == 0:  # the fetch has reached the tenant, which holds it
            await asyncio.sleep(0.01)
        public = await get("/public-async")
        pending = not waiting.done()
        tenant.release()
        return public, pending, await waiting

    public, pending_meanwhile, verified = asyncio.run(scenario())
    assert public.json() == {"public": True}
    assert pending_meanwhile
    assert verified.status_code == 200


# -- authn.verify and authn.averify directly ----------------------------------------------------


def test_verify_returns_the_token_and_the_same_one_again(client, bearer):
    assert client.get("/direct", **bearer()).json() == {"iss": ISSUER, "again": True}


def test_verify_refusal_carries_status_code_description_and_headers(client, tenant):
    assert client.get("/direct").json() == {
        "status": 401,
        "code": "authorization_header_missing",
        "description": "Authorization header is expected.",
        "headers": {"WWW-Authenticate": CREDENTIALS_CHALLENGE},
    }


def test_averify_returns_the_token_or_the_refusal(get_async, bearer):
    assert get_async("/direct-async", **bearer()).json() == {"iss": ISSUER}
    refused = get_async("/direct-async", HTTP_AUTHORIZATION="Bearer x.y.z").json()
    assert (refused["status"], refused["code"]) == (401, "invalid_header")


# -- adrf: DRF's classes in an async APIView ----------------------------------------------------------


def test_adrf_async_view_with_authns_classes(get_async, post_async, bearer):
    assert get_async("/adrf", **bearer(sub="auth0|adrf")).json() == {"sub": "auth0|adrf", "user": "auth0|adrf"}
    assert post_async("/adrf", **bearer(scope="write:messages")).status_code == 200
    assert_refused(
        post_async("/adrf", **bearer()),
        403,
        "insufficient_scope",
        'Bearer realm="api", error="insufficient_scope", scope="write:messages"',
    )
    assert_refused(get_async("/adrf"), 401, "authorization_header_missing", CREDENTIALS_CHALLENGE)


@pytest.mark.django_db
def test_adrf_async_view_with_user_authentication_gets_the_users_row(get_async, bearer):
    """``Auth0UserAuthentication`` works in adrf's async views too: ``request.user`` is the user model's row."""
    response = get_async("/adrf-user", **bearer(sub="auth0|adrf-user"))
    assert response.json() == {"username": "auth0|adrf-user", "model": "User"}
    assert User.objects.filter(username="auth0|adrf-user").count() == 1
