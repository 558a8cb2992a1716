"""``authn.ninja``: Auth0 access tokens for django-ninja, sync and async operations alike.

In process through Django's test client (sync operations) and ``AsyncClient`` (async operations), on the
API of tests/ninja_urls.py; then for real, uvicorn serving that URLconf with the example's settings
(tests/ninja_settings.py) beside a stand-in tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client

from authn.ninja import Auth0Bearer, register
from tests import ninja_urls
from tests.support.dpop_client import ProofKey
from tests.support.network import free_port
from tests.support.refusals import assert_logged_once
from tests.support.servers import Server, assert_clean, start, stop, tenant_env, uvicorn_command
from tests.support.tenant import AUDIENCE, ISSUER, TenantServer, serve, start_tenant
from tests.support.tls import certificate_thumbprint, escaped_pem, self_signed_certificate

pytestmark = pytest.mark.urls("tests.ninja_urls")

NO_CREDENTIALS = 'Bearer realm="api", DPoP algs="ES256"'
INVALID_REQUEST = 'Bearer realm="api", error="invalid_request"'
INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'
INSUFFICIENT_SCOPE = 'Bearer realm="api", error="insufficient_scope", scope="read:messages"'
PROOF_REFUSED = 'DPoP error="invalid_dpop_proof", algs="ES256"'
CERT_HEADER = "X-Client-Cert"
CLIENT = self_signed_certificate("client")  # the certificate an mTLS-bound token is bound to
OTHER = self_signed_certificate("someone-else")

# Where each kind of operation lives: the test client calls the sync ones, AsyncClient the async ones.
OPERATIONS = {"sync": "/ninja", "async": "/ninja/async"}
UNREGISTERED = {"sync": "/ninja-unregistered", "async": "/ninja-unregistered/async"}


def send(path: str, **headers: str):
    """A GET through the whole Django stack: ``AsyncClient`` for an async operation, else the test client."""
    if "/async/" in path:
        return async_to_sync(AsyncClient().get)(path, headers=headers)
    return Client().get(path, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=sorted(OPERATIONS))
def base(request) -> str:
    """The path prefix of the sync or the async operations of the registered API."""
    return OPERATIONS[request.param]


@pytest.fixture(autouse=True)
def _trusted(tenant, dpop) -> TenantServer:
    """The stand-in tenant trusted, DPoP allowed without nonces, a replay store of the test's own (``dpop``)."""
    dpop.AUTH0_MTLS_CLIENT_CERT_HEADER = ""
    return tenant


def assert_refused(response, status: int, code: str, challenge: str | None) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "description"}
    assert body["code"] == code
    assert body["description"]
    assert response.get("WWW-Authenticate") == challenge


# -- the registered API, in process -------------------------------------------------------------------------------


def test_ninja_valid_token_is_200_with_its_claims(base, make_token):
    response = send(f"{base}/private-scoped", **bearer(make_token(sub="auth0|reader")))
    assert response.status_code == 200
    body = response.json()
    assert body["scheme"] == "bearer"
    assert body["claims"]["sub"] == "auth0|reader"
    assert body["claims"]["iss"] == ISSUER
    assert body["claims"]["aud"] == AUDIENCE


def test_ninja_permissions_claim_grants_the_scope(base, make_token):
    token = make_token(drop=("scope",), permissions=["write:messages", "read:messages"])
    assert send(f"{base}/private-scoped", **bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("changes", "authorization", "code", "challenge"),
    [
        pytest.param({}, None, "authorization_header_missing", NO_CREDENTIALS, id="missing-header"),
        pytest.param({}, "Basic dXNlcjpwYXNz", "invalid_header", INVALID_REQUEST, id="malformed-header"),
        pytest.param({}, "Bearer x.y.z", "invalid_header", INVALID_TOKEN, id="bad-token"),
        pytest.param({}, "Bearer " + "a" * 9000, "invalid_header", INVALID_TOKEN, id="oversized-header"),
        pytest.param({}, {"exp": 1}, "token_expired", INVALID_TOKEN, id="expired"),
        pytest.param({}, {"aud": "https://other.example.com"}, "invalid_claims", INVALID_TOKEN, id="wrong-audience"),
        pytest.param({}, {"iss": "https://evil.example.com/"}, "invalid_claims", INVALID_TOKEN, id="wrong-issuer"),
        pytest.param({"AUTH0_ORGANIZATIONS": ["org_abc", "acme"]}, {"org_id": "org_other", "org_name": "other"},
                     "invalid_claims", INVALID_TOKEN, id="organization-not-listed"),
        pytest.param({}, {"cnf": {"jkt": ProofKey().thumbprint}}, "invalid_header",
                     f'{INVALID_TOKEN}, DPoP algs="ES256"', id="dpop-bound-token-as-bearer"),
        pytest.param({}, {"cnf": {"x5t#S256": certificate_thumbprint(CLIENT)}}, "invalid_header", INVALID_TOKEN,
                     id="certificate-bound-token-as-bearer"),
    ],
)  # fmt: skip
def test_ninja_refusal_is_401_with_code_and_challenge(
    base, make_token, settings, changes, authorization, code, challenge
):
    for name, value in changes.items():
        setattr(settings, name, value)
    if isinstance(authorization, dict):
        authorization = f"Bearer {make_token(**authorization)}"
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_refused(send(f"{base}/private", **headers), 401, code, challenge)


@pytest.mark.parametrize(
    "grant",
    [
        pytest.param({"scope": "openid profile"}, id="other-scopes"),
        pytest.param({"scope": "Read:messages"}, id="case-differs"),
        pytest.param({"scope": "read:message"}, id="prefix"),
        pytest.param({"permissions": ["READ:MESSAGES"]}, id="permission-case-differs"),
        pytest.param({}, id="no-scope-at-all"),
    ],
)
def test_ninja_token_without_the_scope_is_403_naming_it(base, make_token, grant):
    token = make_token(drop=("scope",), **grant)
    assert_refused(send(f"{base}/private-scoped", **bearer(token)), 403, "insufficient_scope", INSUFFICIENT_SCOPE)


def test_ninja_operation_without_scopes_takes_any_valid_token(base, make_token):
    assert send(f"{base}/private", **bearer(make_token(scope=""))).status_code == 200


def test_ninja_tenant_down_is_503_with_retry_after(base, tenant, make_token, settings, fake_time):
    settings.AUTH0_JWKS_COOLDOWN_SECONDS = 7
    tenant.respond = serve(500, "down")
    response = send(f"{base}/private", **bearer(make_token()))
    assert_refused(response, 503, "jwks_unavailable", None)
    assert response["Retry-After"] == "7"  # the clock stands still: the whole cooldown is left


def test_ninja_dpop_bound_token_with_its_proof_is_200_and_a_replay_is_401(base, make_token):
    key = ProofKey()
    token = make_token(cnf={"jkt": key.thumbprint})
    path = f"{base}/private-scoped"
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", f"http://testserver{path}", token=token)}
    first = send(path, **headers)
    assert first.status_code == 200
    assert first.json()["scheme"] == "dpop"
    assert_refused(send(path, **headers), 401, "invalid_dpop_proof", PROOF_REFUSED)


def test_ninja_dpop_proof_without_the_nonce_is_answered_with_one(base, make_token, settings):
    """With nonces on, a proof without ours is 401 ``use_dpop_nonce`` carrying a ``DPoP-Nonce`` to retry with."""
    settings.AUTH0_DPOP_NONCE = True
    key = ProofKey()
    token = make_token(cnf={"jkt": key.thumbprint})
    path = f"{base}/private-scoped"
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", f"http://testserver{path}", token=token)}
    refused = send(path, **headers)
    assert_refused(refused, 401, "use_dpop_nonce", 'DPoP error="use_dpop_nonce", algs="ES256"')
    nonce = refused["DPoP-Nonce"]
    headers["DPoP"] = key.proof("GET", f"http://testserver{path}", token=token, nonce=nonce)
    assert send(path, **headers).status_code == 200


def test_ninja_dpop_bound_token_without_the_scope_is_challenged_for_dpop(base, make_token):
    key = ProofKey()
    token = make_token(cnf={"jkt": key.thumbprint}, scope="openid")
    path = f"{base}/private-scoped"
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", f"http://testserver{path}", token=token)}
    challenge = 'DPoP error="insufficient_scope", scope="read:messages", algs="ES256"'
    assert_refused(send(path, **headers), 403, "insufficient_scope", challenge)


@pytest.mark.parametrize(
    ("certificate", "status"),
    [pytest.param(CLIENT, 200, id="its-certificate"), pytest.param(OTHER, 401, id="another-certificate")],
)
def test_ninja_mtls_bound_token_needs_its_certificate(base, make_token, settings, certificate, status):
    settings.AUTH0_MTLS_CLIENT_CERT_HEADER = CERT_HEADER
    settings.AUTH0_MTLS_CLIENT_CERT_FORMAT = "pem"
    settings.AUTH0_MTLS_TRUSTED_PROXIES = ["127.0.0.1"]  # both test clients connect from there
    token = make_token(cnf={"x5t#S256": certificate_thumbprint(CLIENT)})
    response = send(f"{base}/private-scoped", **bearer(token), **{CERT_HEADER: escaped_pem(certificate)})
    if status == 200:
        assert response.status_code == 200
    else:
        assert_refused(response, 401, "invalid_header", INVALID_TOKEN)


@pytest.mark.parametrize(
    ("path", "claims", "level", "code", "prefix"),
    [
        pytest.param("/private", {"aud": "https://x.example.com"}, logging.INFO, "invalid_claims", "unverified_",
                     id="401"),
        pytest.param("/private-scoped", {"scope": "openid"}, logging.INFO, "insufficient_scope", "", id="403"),
        pytest.param("/private", "down", logging.WARNING, "jwks_unavailable", "unverified_", id="503"),
    ],
)  # fmt: skip
def test_ninja_refusal_is_logged_once_without_the_token(
    base, tenant, make_token, caplog, path, claims, level, code, prefix
):
    """One line (INFO, WARNING for a 503) with the code, the path and the token's kid, iss and sub (``unverified_``
    while its signature is not checked); never the token."""
    if claims == "down":
        tenant.respond = serve(500, "down")
    token = make_token(**(claims if isinstance(claims, dict) else {}))
    with caplog.at_level(logging.INFO):
        send(f"{base}{path}", **bearer(token))
    assert_logged_once(caplog, level=level, code=code, path=f"{base}{path}", token=token, prefix=prefix)


def test_ninja_register_twice_still_answers_and_logs_once(make_token, caplog):
    register(ninja_urls.api)
    register(ninja_urls.api)
    with caplog.at_level(logging.INFO, logger="authn"):
        response = send("/ninja/private", **bearer(make_token(exp=1)))
    assert_refused(response, 401, "token_expired", INVALID_TOKEN)
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1


@pytest.mark.parametrize("path", ["/ninja-whole/private", "/ninja-whole/async/private"])
def test_ninja_api_wide_auth_guards_every_operation(make_token, path):
    assert_refused(send(path), 401, "authorization_header_missing", NO_CREDENTIALS)
    assert send(path, **bearer(make_token(scope=""))).status_code == 200


def test_ninja_public_async_operation_needs_no_token(tenant):
    response = send("/ninja/async/public", Authorization="Bearer garbage")
    assert response.status_code == 200
    assert tenant.fetches == 0


# -- an API without register(api): ninja's own rendering, the right status ---------------------------------------


@pytest.mark.parametrize("kind", sorted(UNREGISTERED))
@pytest.mark.parametrize(
    ("path", "claims", "status"),
    [
        pytest.param("/private", None, 401, id="missing-header"),
        pytest.param("/private", {"exp": 1}, 401, id="expired"),
        pytest.param("/private-scoped", {"scope": "openid"}, 403, id="insufficient-scope"),
        pytest.param("/private", "down", 503, id="tenant-down"),
        pytest.param("/private-scoped", {}, 200, id="granted"),
    ],
)
def test_ninja_unregistered_api_answers_the_status_never_500(tenant, make_token, kind, path, claims, status):
    if claims == "down":
        tenant.respond = serve(500, "down")
    headers = {} if claims is None else bearer(make_token(**(claims if isinstance(claims, dict) else {})))
    response = send(f"{UNREGISTERED[kind]}{path}", **headers)
    assert response.status_code == status
    if status != 200:
        assert response.json() == {"detail": response.json()["detail"]}
        assert response.json()["detail"]


# -- the auth object itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "says"),
    [
        pytest.param("read:messages", "not a str", id="a-string"),
        pytest.param(None, "not a NoneType", id="none"),
        pytest.param(["read:messages", 3], "holds 3, a int", id="an-int-entry"),
        pytest.param([b"read:messages"], "a bytes", id="a-bytes-entry"),
        pytest.param(["read:messages", ""], "'', a str", id="an-empty-entry"),
        pytest.param(("read:messages", " "), "' ', a str", id="a-space"),
    ],
)
def test_auth0bearer_bad_scopes_is_improperly_configured_saying_how(scopes, says):
    with pytest.raises(ImproperlyConfigured) as raised:
        Auth0Bearer(scopes=scopes)
    message = str(raised.value)
    assert says in message
    assert 'e.g. ["read:messages"]' in message


@pytest.mark.parametrize(
    "scopes", [pytest.param((), id="none"), pytest.param(["a", "b"], id="list"), pytest.param(("a",), id="tuple")]
)
def test_auth0bearer_scopes_list_or_tuple_is_accepted(scopes):
    assert Auth0Bearer(scopes=scopes).scopes == tuple(scopes)


def test_auth0bearer_documents_itself_as_http_bearer():
    schema = ninja_urls.api.get_openapi_schema()
    assert schema["components"]["securitySchemes"]["Auth0Bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert schema["paths"]["/ninja/async/private"]["get"]["security"] == [{"Auth0Bearer": []}]
    assert "security" not in schema["paths"]["/ninja/async/public"]["get"]


# -- for real: uvicorn, one worker, the example's settings and this URLconf --------------------------------------


def uvicorn(tenant: TenantServer, log, *, probe: str = "/ninja/async/public") -> Server:
    port = free_port()
    env = tenant_env(tenant) | {"DJANGO_SETTINGS_MODULE": "tests.ninja_settings"}
    return start(uvicorn_command(port), env, log, port, probe=probe)


@pytest.fixture(scope="module")
def ninja_server(tenant_server, tmp_path_factory) -> Iterator[Server]:
    served = uvicorn(tenant_server, tmp_path_factory.mktemp("uvicorn") / "server.log")
    yield served
    stop(served)
    assert_clean(served.log_text())


@pytest.mark.parametrize("kind", sorted(OPERATIONS))
def test_uvicorn_ninja_operation_answers_200_401_403(ninja_server, make_token, kind):
    path = f"{OPERATIONS[kind]}/private-scoped"
    granted = ninja_server.get(path, make_token())
    assert granted.status_code == 200
    assert granted.json()["claims"]["sub"] == "auth0|user-1"
    cases = [
        (ninja_server.get(path), 401, "authorization_header_missing", NO_CREDENTIALS),
        (ninja_server.get(path, make_token(exp=1)), 401, "token_expired", INVALID_TOKEN),
        (ninja_server.get(path, make_token(scope="openid")), 403, "insufficient_scope", INSUFFICIENT_SCOPE),
    ]
    for response, status, code, challenge in cases:
        assert (response.status_code, response.json()["code"]) == (status, code)
        assert response.headers["WWW-Authenticate"] == challenge
    unregistered = ninja_server.get(f"{UNREGISTERED[kind]}/private-scoped", make_token(scope="openid"))
    assert unregistered.status_code == 403


def test_uvicorn_hanging_tenant_does_not_delay_a_public_async_operation(rsa_key, make_token, tmp_path):
    """One uvicorn worker: while an async operation's key fetch hangs on the tenant, a public async operation
    of the same worker is answered; the held request is answered once the tenant lets go."""
    tenant = start_tenant(rsa_key)
    served = uvicorn(tenant, tmp_path / "server.log")
    try:
        tenant.hang()
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(served.get, "/ninja/async/private", make_token())
            assert tenant.wait_for_fetches(1, timeout=30) == 1  # the key fetch is in flight, held
            public = served.get("/ninja/async/public")
            assert public.status_code == 200
            assert not pending.done()  # answered while the fetch was still pending
            tenant.release()
            assert pending.result().status_code == 200
    finally:
        tenant.release()
        stop(served)
        tenant.stop()
    assert_clean(served.log_text())
