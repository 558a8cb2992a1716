"""The example API through the whole Django stack: what each endpoint answers, then every refusal's status,
JSON body and challenge (the README's endpoint and error tables, row by row)."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User
from django.urls import path
from rest_framework.test import APIClient

from tests.support.api import PRIVATE_MESSAGE, PUBLIC_MESSAGE, SCOPED_MESSAGE
from tests.support.tenant import serve

PATHS = ["/api/public", "/api/private", "/api/private-scoped"]
BARE_CHALLENGE = 'Bearer realm="api"'
# No credentials: the Bearer challenge, then DPoP's (AUTH0_DPOP is "allowed" by default).
NO_CREDENTIALS_CHALLENGE = 'Bearer realm="api", DPoP algs="ES256"'


def assert_error(response, status: int, code: str, error: str | None = None) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "description"}
    assert body["code"] == code
    assert body["description"]
    if error is not None:
        assert response["WWW-Authenticate"] == f'{BARE_CHALLENGE}, error="{error}"'


# -- endpoints -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/public", "/api/public/"])
def test_public_without_token_returns_message(call, path):
    response = call(path)
    assert response.status_code == 200
    assert response.json() == {"message": PUBLIC_MESSAGE}


@pytest.mark.parametrize("authorization", ["Bearer garbage", "Basic dXNlcjpwYXNz", "Bearer", ""])
def test_public_ignores_any_authorization_header(call, tenant, authorization):
    response = call("/api/public", authorization=authorization)
    assert response.status_code == 200
    assert tenant.fetches == 0


@pytest.mark.parametrize("path", ["/api/private", "/api/private/"])
def test_private_with_valid_token_returns_message(call, tenant, make_token, path):
    response = call(path, token=make_token(scope=""))
    assert response.status_code == 200
    assert response.json() == {"message": PRIVATE_MESSAGE}


@pytest.mark.parametrize("path", ["/api/private-scoped", "/api/private-scoped/"])
def test_scoped_with_scope_claim_returns_message(call, tenant, make_token, path):
    response = call(path, token=make_token(scope="openid read:messages profile"))
    assert response.status_code == 200
    assert response.json() == {"message": SCOPED_MESSAGE}


def test_scoped_with_permissions_claim_returns_message(call, tenant, make_token):
    token = make_token(drop=("scope",), permissions=["write:messages", "read:messages"])
    assert call("/api/private-scoped", token=token).status_code == 200


@pytest.mark.parametrize(
    "grant",
    [
        pytest.param({"scope": "openid profile"}, id="other-scopes"),
        pytest.param({"scope": "Read:messages"}, id="case-differs"),
        pytest.param({"scope": "read:messages2"}, id="longer-name"),
        pytest.param({"scope": "read:message"}, id="prefix"),
        pytest.param({"scope": "openid,read:messages"}, id="comma-separated"),
        pytest.param({"scope": ["read:messages"]}, id="scope-as-list"),
        pytest.param({"permissions": "read:messages"}, id="permissions-as-string"),
        pytest.param({"permissions": ["READ:MESSAGES"]}, id="permission-case-differs"),
        pytest.param({}, id="no-scope-at-all"),
    ],
)
def test_scoped_without_exact_scope_is_forbidden(call, tenant, make_token, grant):
    response = call("/api/private-scoped", token=make_token(drop=("scope",), **grant))
    assert_error(response, 403, "insufficient_scope")
    assert response["WWW-Authenticate"] == f'{BARE_CHALLENGE}, error="insufficient_scope", scope="read:messages"'


@pytest.mark.parametrize("path", PATHS + [p + "/" for p in PATHS])
def test_every_path_answers_both_forms_without_redirect(call, tenant, make_token, path):
    response = call(path, token=make_token())
    assert response.status_code == 200


@pytest.mark.parametrize("path", PATHS + [p + "/" for p in PATHS])
def test_head_works_wherever_get_does(api, tenant, make_token, path):
    response = api.head(path, HTTP_AUTHORIZATION=f"Bearer {make_token()}")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    ("path", "claims", "status", "challenge"),
    [
        pytest.param("/api/private", None, 401, NO_CREDENTIALS_CHALLENGE, id="private-without-token"),
        pytest.param("/api/private/", {"exp": 1}, 401, f'{BARE_CHALLENGE}, error="invalid_token"', id="expired"),
        pytest.param("/api/private-scoped", {"scope": "openid"}, 403,
                     f'{BARE_CHALLENGE}, error="insufficient_scope", scope="read:messages"', id="without-the-scope"),
    ],
)  # fmt: skip
def test_head_refusal_has_the_status_and_challenge_of_get(api, tenant, make_token, path, claims, status, challenge):
    headers = {} if claims is None else {"HTTP_AUTHORIZATION": f"Bearer {make_token(**claims)}"}
    response = api.head(path, **headers)
    assert response.status_code == status
    assert response["WWW-Authenticate"] == challenge
    assert response.content == b""


@pytest.mark.parametrize("path", PATHS + [p + "/" for p in PATHS])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options", "trace"])
@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_other_methods_are_405(api, tenant, make_token, path, method, with_token):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {make_token()}"} if with_token else {}
    response = getattr(api, method)(path, **headers)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", PATHS)
def test_browsable_api_renders_html_with_same_status(call, tenant, make_token, path):
    response = call(path, token=make_token(), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Hello from a" in response.content.decode()


def test_browsable_api_shows_the_error_in_html_with_same_status_and_challenge(call, tenant):
    response = call("/api/private", HTTP_ACCEPT="text/html")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")
    assert response["WWW-Authenticate"] == NO_CREDENTIALS_CHALLENGE
    page = response.content.decode()
    assert "authorization_header_missing" in page
    assert "Authorization header is expected." in page


@pytest.mark.parametrize(
    ("docs", "linked"), [pytest.param(True, True, id="docs-on"), pytest.param(False, False, id="off")]
)
def test_browsable_api_401_page_links_the_api_docs_when_served(call, tenant, settings, docs, linked):
    settings.API_DOCS_ENABLED = docs
    page = call("/api/private", HTTP_ACCEPT="text/html").content.decode()
    assert ('<a href="/api/docs/">open the API documentation</a>' in page) is linked
    assert "token-needed" not in call("/api/public", HTTP_ACCEPT="text/html").content.decode()


@pytest.mark.parametrize(
    ("claims", "tenant_down", "status", "challenge"),
    [
        pytest.param({"scope": "openid"}, False, 403, f'{BARE_CHALLENGE}, error="insufficient_scope", '
                     'scope="read:messages"', id="403"),
        pytest.param({}, True, 503, None, id="503"),
    ],
)  # fmt: skip
def test_browsable_api_keeps_the_status_and_headers_of_a_refusal(
    call, tenant, make_token, claims, tenant_down, status, challenge
):
    if tenant_down:
        tenant.respond = serve(503)
    response = call("/api/private-scoped", token=make_token(**claims), HTTP_ACCEPT="text/html")
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    if challenge is None:
        assert "WWW-Authenticate" not in response
        assert int(response["Retry-After"]) >= 1
    else:
        assert response["WWW-Authenticate"] == challenge


@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_api_clients_get_the_json_error(call, tenant, accept):
    response = call("/api/private", **({"HTTP_ACCEPT": accept} if accept else {}))
    assert_error(response, 401, "authorization_header_missing")


def test_challenge_without_dpop_when_disabled(settings, call, tenant):
    settings.AUTH0_DPOP = "disabled"
    assert call("/api/private")["WWW-Authenticate"] == BARE_CHALLENGE


@pytest.mark.django_db
def test_admin_session_is_not_an_api_credential(api, tenant):
    admin = User.objects.create_superuser("admin", "admin@example.com", "a-long-password-1")
    api.force_login(admin)
    assert api.get("/admin/").status_code == 200
    assert_error(api.get("/api/private"), 401, "authorization_header_missing")


@pytest.mark.django_db
def test_admin_login_page_renders(api):
    response = api.get("/admin/login/")
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content


# -- refusals ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/private", "/api/private-scoped", "/api/private/", "/api/private-scoped/"])
def test_missing_header_is_401_without_error_attribute(call, tenant, path):
    response = call(path)
    assert_error(response, 401, "authorization_header_missing")
    assert response["WWW-Authenticate"] == NO_CREDENTIALS_CHALLENGE


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic dXNlcjpwYXNz", id="basic-scheme"),
        pytest.param("Token abc.def.ghi", id="other-scheme"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer ", id="scheme-and-space"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("Bearer a.b.c extra", id="extra-part"),
        pytest.param("Bearer a.b.c, Bearer d.e.f", id="two-credentials"),
        pytest.param("Bearerabc.def.ghi", id="no-space"),
        pytest.param("abc.def.ghi", id="token-without-scheme"),
    ],
)
def test_malformed_authorization_header_is_invalid_request(call, tenant, authorization):
    assert_error(call("/api/private", authorization=authorization), 401, "invalid_header", "invalid_request")
    assert tenant.fetches == 0


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(call, tenant, make_token, scheme):
    assert call("/api/private", authorization=f"{scheme} {make_token()}").status_code == 200


def test_extra_spaces_between_scheme_and_token_are_accepted(call, tenant, make_token):
    assert call("/api/private", authorization=f"Bearer   {make_token()}").status_code == 200


@pytest.mark.parametrize(
    "token_kind",
    ["garbage", "bad-signature", "unknown-kid", "hs256", "no-kid"],
)
def test_invalid_token_is_invalid_header(call, tenant, make_token, other_rsa_key, token_kind):
    token = {
        "garbage": lambda: "not-a-jwt",
        "bad-signature": lambda: make_token(key=other_rsa_key),
        "unknown-kid": lambda: make_token(kid="no-such-key"),
        "hs256": lambda: make_token(key="a-shared-secret-of-32-bytes-long!", alg="HS256"),
        "no-kid": lambda: make_token(kid=None),
    }[token_kind]()
    response = call("/api/private", token=token)
    assert_error(response, 401, "invalid_header", "invalid_token")
    assert token not in response.content.decode()


def test_expired_token_is_token_expired(call, tenant, make_token):
    response = call("/api/private", token=make_token(exp=1_600_000_000, iat=1_599_990_000))
    assert_error(response, 401, "token_expired", "invalid_token")


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": "https://api.example.com/other"}, id="wrong-audience"),
        pytest.param({"iss": "https://evil.example.com/"}, id="wrong-issuer"),
        pytest.param({"iss": "https://tenant.example.com"}, id="issuer-without-slash"),
    ],
)
def test_wrong_audience_or_issuer_is_invalid_claims(call, tenant, make_token, claims):
    assert_error(call("/api/private", token=make_token(**claims)), 401, "invalid_claims", "invalid_token")


def test_audience_list_containing_ours_is_accepted(call, tenant, make_token):
    token = make_token(aud=["https://tenant.example.com/userinfo", "https://api.example.com/messages"])
    assert call("/api/private", token=token).status_code == 200


def test_cold_outage_is_503_with_retry_after(call, tenant, make_token):
    tenant.respond = serve(500, "tenant is down")
    response = call("/api/private", token=make_token())
    assert_error(response, 503, "jwks_unavailable")
    assert int(response["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response


def test_unknown_api_path_is_json_404(call):
    response = call("/api/nothing-here")
    assert_error(response, 404, "not_found")


def test_unacceptable_accept_header_is_json_406(call, tenant, make_token):
    response = call("/api/private", token=make_token(), HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


# -- logging: once per refusal, never the token ------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        pytest.param(None, "authorization_header_missing", id="no-header"),
        pytest.param("Basic dXNlcjpwYXNz", "invalid_header", id="another-scheme"),
    ],
)
def test_refusal_without_a_token_is_logged_once(call, tenant, caplog, authorization, code):
    with caplog.at_level(logging.INFO):
        call("/api/private", authorization=authorization)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.INFO]
    assert f"code={code}" in refusals[0].getMessage()
    assert "path='/api/private'" in refusals[0].getMessage()


@pytest.mark.parametrize(
    ("path", "claims", "tenant_down", "level", "code"),
    [
        pytest.param("/api/private", {"aud": "https://x.example.com"}, False, logging.INFO, "invalid_claims", id="401"),
        pytest.param("/api/private-scoped", {"scope": "openid"}, False, logging.INFO, "insufficient_scope", id="403"),
        pytest.param("/api/private", {}, True, logging.WARNING, "jwks_unavailable", id="503"),
    ],
)
def test_refusal_is_logged_once_with_context_and_without_token(
    call, tenant, make_token, caplog, path, claims, tenant_down, level, code
):
    if tenant_down:
        tenant.respond = serve(503)
    token = make_token(**claims)
    with caplog.at_level(logging.INFO):
        call(path, token=token)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [r.levelno for r in refusals] == [level]
    assert [r for r in caplog.records if r.name == "django.request"] == []
    message = refusals[0].getMessage()
    assert f"code={code}" in message
    assert f"path='{path}'" in message
    # A refused token's claims are the client's word; a 403's token was verified.
    prefix = "" if code == "insufficient_scope" else "unverified_"
    assert f" {prefix}kid='key-1'" in message
    assert f" {prefix}iss='https://tenant.example.com/'" in message
    assert f" {prefix}sub='auth0|user-1'" in message
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text
    assert "Traceback" not in caplog.text


# -- a crash -----------------------------------------------------------------------------


def crash(request):
    raise RuntimeError("a bug with a secret in its message")


urlpatterns = [path("crash", crash)]  # the URLconf of the test below
handler500 = "messages_api.errors.server_error"


@pytest.mark.urls("tests.test_api")
def test_a_crash_is_a_json_500_without_traceback_or_message():
    response = APIClient(raise_request_exception=False).get("/crash")
    assert_error(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
