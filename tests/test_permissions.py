"""Authorization on the token: HasScope's declarations, requires_scopes / requires_claim / requires_organization,
DRF's composition of them, AUTH0_ORGANIZATIONS, and the system check on every declaration form.

Views of this module are routed by its own URLconf and called through DRF's test client with tokens the
stand-in tenant's key signs, under authn's exception handler and DRF's stock one.
"""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.permissions import HasScope, requires_claim, requires_organization, requires_scopes

INSUFFICIENT_SCOPE = 'Bearer realm="api", error="insufficient_scope"'


class Echo(APIView):
    """Answers every method with the token's subject."""

    def respond(self, request):
        return Response({"sub": request.auth.subject, "method": request.method})

    get = post = put = patch = delete = head = options = respond


def view(name, base=Echo, **attributes):
    return type(name, (base,), attributes).as_view()


PER_METHOD = {"GET": ["read:messages"], "post": ["write:messages"], "DELETE": []}

urlpatterns = [
    path("all", view("All", permission_classes=[HasScope], required_scopes=["read:messages", "write:messages"])),
    path("per-method", view("PerMethod", permission_classes=[HasScope], required_scopes=PER_METHOD)),
    path(
        "per-method-head",
        view("PerMethodHead", permission_classes=[HasScope], required_scopes={"GET": ["read:messages"], "HEAD": []}),
    ),
    path(
        "alternatives",
        view(
            "Alternatives",
            permission_classes=[HasScope],
            required_alternate_scopes=[["read:all"], ["read:own", "read:messages"]],
        ),
    ),
    path(
        "both",
        view(
            "Both",
            permission_classes=[HasScope],
            required_scopes=["read:messages"],
            required_alternate_scopes={"GET": [["tier:gold"], ["tier:silver"]]},
        ),
    ),
    path(
        "alternatives-per-method",
        view(
            "AlternativesPerMethod",
            permission_classes=[HasScope],
            required_alternate_scopes={"GET": [["read:all"], ["read:own"]], "post": [["write:all"]], "DELETE": []},
        ),
    ),
    path(
        "both-per-method",
        view(
            "BothPerMethod",
            permission_classes=[HasScope],
            required_scopes={"GET": ["read:messages"]},
            required_alternate_scopes=[["tier:gold"], ["tier:silver"]],
        ),
    ),
    path("either-scope", view("Either", permission_classes=[requires_scopes("a") | requires_scopes("b")])),
    path("admin-or-scope", view("AdminOrScope", permission_classes=[IsAdminUser | requires_scopes("admin:all")])),
    path(
        "authenticated-or-scope",
        view("AuthOrScope", permission_classes=[IsAuthenticated | HasScope], required_scopes=["x"]),
    ),
    path(
        "drf-holder-and-scope",
        view("HolderAnd", permission_classes=[(IsAdminUser | IsAuthenticated) & HasScope], required_scopes=["x"]),
    ),
    path("not-scope", view("NotScope", permission_classes=[~requires_scopes("banned")])),
    path(
        "scope-and-claim",
        view("ScopeAndClaim", permission_classes=[requires_scopes("read:messages") & requires_claim("tier", equals=1)]),
    ),
    path("claim-equals", view("ClaimEquals", permission_classes=[requires_claim("org_id", equals="org_abc")])),
    path("claim-includes", view("ClaimIncludes", permission_classes=[requires_claim("roles", includes="editor")])),
    path("claim-includes-number", view("IncludesNumber", permission_classes=[requires_claim("levels", includes=1)])),
    path(
        "claim-check",
        view("ClaimCheck", permission_classes=[requires_claim("age", check=lambda age: age >= 18)]),
    ),
    path("organization", view("Organization", permission_classes=[requires_organization("org_abc", "Acme")])),
    path("plain", view("Plain", permission_classes=[IsAuthenticated])),
]


@api_view(["GET", "POST"])
@permission_classes([requires_scopes("read:messages")])
def function_view(request):
    return Response({"sub": request.auth.subject})


urlpatterns.append(path("function", function_view))

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture(params=["authn", "stock"])
def handler(request, settings):
    """authn's exception handler (the example's), and DRF's own: refusals keep their status and challenge."""
    if request.param == "stock":
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
        }
    return request.param


@pytest.fixture
def send(api, tenant, make_token):
    """``send(method, path, **claims)``: a request with a token of those claims (``scope=""`` by default)."""

    def request(method, url, **claims):
        token = make_token(**{"scope": "", **claims})
        return getattr(api, method.lower())(f"/{url}", HTTP_AUTHORIZATION=f"Bearer {token}")

    return request


def assert_insufficient(response, handler, code="insufficient_scope", scope=None):
    assert response.status_code == 403
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", error="insufficient_scope"')
    assert (f'scope="{scope}"' in challenge) if scope else ("scope=" not in challenge)
    if handler == "authn":
        assert response.json()["code"] == code


# -- HasScope: the view's declarations ----------------------------------------------------------


def test_has_scope_list_requires_every_scope(send, handler):
    assert send("GET", "all", scope="read:messages write:messages").status_code == 200
    assert_insufficient(send("GET", "all", scope="read:messages"), handler, scope="read:messages write:messages")


@pytest.mark.parametrize(
    ("method", "granting", "refused_with"),
    [
        pytest.param("GET", "read:messages", "write:messages", id="get"),
        pytest.param("HEAD", "read:messages", "write:messages", id="head-follows-get"),
        pytest.param("POST", "write:messages", "read:messages", id="post-key-lower-case"),
    ],
)
def test_has_scope_dict_requires_each_methods_scopes(send, handler, method, granting, refused_with):
    assert send(method, "per-method", scope=granting).status_code == 200
    response = send(method, "per-method", scope=refused_with)
    assert response.status_code == 403
    assert "insufficient_scope" in response["WWW-Authenticate"]


def test_has_scope_dict_method_with_no_scopes_takes_any_token(send):
    assert send("DELETE", "per-method").status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS"])
def test_has_scope_dict_method_it_does_not_name_is_refused(send, handler, method):
    assert_insufficient(send(method, "per-method", scope="read:messages write:messages"), handler)


def test_has_scope_dict_head_named_is_not_get(send):
    assert send("HEAD", "per-method-head").status_code == 200
    assert send("GET", "per-method-head").status_code == 403


@pytest.mark.parametrize(
    ("scope", "status"),
    [
        pytest.param("read:all", 200, id="first-alternative"),
        pytest.param("read:own read:messages", 200, id="second-alternative-whole"),
        pytest.param("read:own", 403, id="half-an-alternative"),
        pytest.param("", 403, id="none"),
    ],
)
def test_has_scope_alternatives_need_one_whole_alternative(send, scope, status):
    assert send("GET", "alternatives", scope=scope).status_code == status


def test_has_scope_alternatives_refusal_names_the_closest_one(send, handler):
    assert_insufficient(send("GET", "alternatives", scope="read:own"), handler, scope="read:own read:messages")


def test_has_scope_both_need_the_required_and_one_alternative(send, handler):
    assert send("GET", "both", scope="read:messages tier:silver").status_code == 200
    assert_insufficient(send("GET", "both", scope="tier:gold"), handler, scope="read:messages tier:gold")
    assert_insufficient(send("GET", "both", scope="read:messages"), handler, scope="read:messages tier:gold")
    assert_insufficient(send("POST", "both", scope="read:messages tier:gold"), handler)  # alternatives name no POST


@pytest.mark.parametrize(
    ("method", "scope", "status", "named"),
    [
        pytest.param("GET", "read:own", 200, None, id="get-one-alternative"),
        pytest.param("HEAD", "read:all", 200, None, id="head-follows-get"),
        pytest.param("HEAD", "write:all", 403, "read:all", id="head-without-gets-alternatives"),
        pytest.param("POST", "write:all", 200, None, id="post-key-lower-case"),
        pytest.param("POST", "read:all read:own", 403, "write:all", id="post-with-gets-alternatives"),
        pytest.param("DELETE", "", 200, None, id="method-with-no-alternatives-takes-any-token"),
        pytest.param("PUT", "read:all read:own write:all", 403, "", id="method-it-does-not-name"),
    ],
)
def test_has_scope_alternatives_by_method(send, handler, method, scope, status, named):
    """``required_alternate_scopes`` as a dict: each method's alternatives, ``HEAD`` following ``GET``, a method
    it does not name refused."""
    response = send(method, "alternatives-per-method", scope=scope)
    assert response.status_code == status
    if status == 403:  # a HEAD answer has no body to carry the code: its status and challenge say it
        assert_insufficient(response, handler if method != "HEAD" else "stock", scope=named)


@pytest.mark.parametrize(
    ("method", "scope", "status", "named"),
    [
        pytest.param("GET", "read:messages tier:silver", 200, None, id="required-and-an-alternative"),
        pytest.param("GET", "tier:gold", 403, "read:messages tier:gold", id="an-alternative-alone"),
        pytest.param("GET", "read:messages", 403, "read:messages tier:gold", id="required-alone"),
        pytest.param("HEAD", "read:messages tier:gold", 200, None, id="head-follows-get"),
        pytest.param("POST", "read:messages tier:gold", 403, "", id="method-the-required-dict-does-not-name"),
    ],
)
def test_has_scope_required_by_method_and_alternatives_list_need_both(send, handler, method, scope, status, named):
    """Both declared, the method's ``required_scopes`` and one alternative are needed; a method the dict does not
    name is refused, whatever alternative the token holds."""
    response = send(method, "both-per-method", scope=scope)
    assert response.status_code == status
    if status == 403:
        assert_insufficient(response, handler, scope=named)


def test_has_scope_without_a_token_is_left_to_drf_as_401(api, tenant):
    response = api.get("/per-method")
    assert response.status_code == 401
    assert response.json()["code"] == "authorization_header_missing"


# -- declarations that are wrong: ImproperlyConfigured when used, authn.E011 at start-up ------------------


BAD_DECLARATIONS = [
    pytest.param({}, "declares neither", id="nothing"),
    pytest.param({"required_scopes": "read:messages"}, "must be a list of scope strings", id="a-string"),
    pytest.param({"required_scopes": []}, "is empty", id="empty-list"),
    pytest.param({"required_scopes": ["read:messages", 3]}, "holds 3", id="not-a-string"),
    pytest.param({"required_scopes": ["read messages"]}, "without spaces", id="a-space"),
    pytest.param({"required_scopes": {"FETCH": ["x"]}}, "is no method", id="dict-key-no-method"),
    pytest.param({"required_scopes": {"GET": "x"}}, "must be a list of scope strings", id="dict-value-a-string"),
    pytest.param({"required_alternate_scopes": ["a", "b"]}, "must be a list of scope strings", id="alternatives-flat"),
    pytest.param({"required_alternate_scopes": []}, "must be a list of alternatives", id="alternatives-empty"),
    pytest.param({"required_alternate_scopes": {"GET": "a"}}, "must be a list of alternatives", id="alt-dict-string"),
]


@pytest.mark.parametrize(("declaration", "message"), BAD_DECLARATIONS)
def test_has_scope_bad_declaration_is_improperly_configured_even_without_a_token(rf, declaration, message):
    bad = type("Bad", (Echo,), {"permission_classes": [HasScope], **declaration}).as_view()
    with pytest.raises(ImproperlyConfigured, match=message):
        bad(rf.get("/"))


@pytest.mark.parametrize(("declaration", "message"), BAD_DECLARATIONS)
@pytest.mark.parametrize(
    "permissions",
    [
        pytest.param(lambda: [HasScope], id="alone"),
        pytest.param(lambda: [IsAuthenticated | HasScope], id="composed-by-drf-class"),
        pytest.param(lambda: [(IsAdminUser | IsAuthenticated) & HasScope], id="inside-a-drf-holder"),
        pytest.param(lambda: [~HasScope], id="negated"),
    ],
)
def test_check_bad_declaration_is_e011_naming_the_view(settings, declaration, message, permissions):
    bad = type("BadlyDeclared", (Echo,), {"permission_classes": permissions(), **declaration})
    module = type("Routes", (), {"urlpatterns": [path("bad", bad.as_view())]})
    settings.ROOT_URLCONF = module
    errors = [m for m in run_checks() if m.id == "authn.E011"]
    assert len(errors) == 1
    assert message in errors[0].msg
    assert errors[0].obj is bad


def test_check_this_modules_views_pass():
    assert [m for m in run_checks() if m.id == "authn.E011"] == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(requires_scopes, "at least one scope", id="scopes-none"),
        pytest.param(lambda: requires_scopes(["a"]), "holds", id="scopes-a-list"),
        pytest.param(lambda: requires_claim("org_id"), "exactly one test", id="claim-no-test"),
        pytest.param(lambda: requires_claim("x", equals=1, includes=1), "exactly one test", id="claim-two-tests"),
        pytest.param(lambda: requires_claim("", equals=1), "exactly one test", id="claim-no-name"),
        pytest.param(lambda: requires_claim("x", check="not callable"), "exactly one test|callable", id="check"),
        pytest.param(requires_organization, "takes organization ids", id="organization-none"),
        pytest.param(lambda: requires_organization("org_a", 3), "non-empty strings", id="organization-not-str"),
    ],
)
def test_permission_factories_refuse_wrong_arguments_when_declared(make, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        make()


# -- function-based views -----------------------------------------------------------------------


def test_function_view_declares_its_scopes_with_requires_scopes(send, handler):
    assert send("GET", "function", scope="read:messages").json() == {"sub": "auth0|user-1"}
    assert_insufficient(send("POST", "function"), handler, scope="read:messages")


# -- composition with DRF's &, |, ~ -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scope", "status"),
    [
        pytest.param("either-scope", "a", 200, id="or-first"),
        pytest.param("either-scope", "b", 200, id="or-second"),
        pytest.param("authenticated-or-scope", "", 200, id="drf-class-left-grants"),
        pytest.param("drf-holder-and-scope", "x", 200, id="drf-holder-and-ours"),
        pytest.param("not-scope", "read:messages", 200, id="not-without-the-scope"),
        pytest.param("not-scope", "banned", 403, id="not-with-the-scope"),
    ],
)
def test_composition_grants_as_its_operators_say(send, url, scope, status):
    assert send("GET", url, scope=scope).status_code == status


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        pytest.param("either-scope", "c", id="or-of-scopes"),
        pytest.param("admin-or-scope", "", id="drf-class-or-scope"),
        pytest.param("drf-holder-and-scope", "", id="drf-holder-and-ours"),
        pytest.param("not-scope", "banned", id="negation"),
    ],
)
def test_composed_refusal_is_insufficient_scope_with_its_challenge(send, handler, url, scope):
    response = send("GET", url, scope=scope)
    assert response.status_code == 403
    assert response["WWW-Authenticate"].startswith(INSUFFICIENT_SCOPE)
    if handler == "authn":
        assert response.json()["code"] == "insufficient_scope"


def test_composed_and_refuses_with_the_first_refusal(send, handler):
    assert send("GET", "scope-and-claim", scope="read:messages", tier=1).status_code == 200
    assert_insufficient(send("GET", "scope-and-claim", tier=1), handler, scope="read:messages")
    assert_insufficient(send("GET", "scope-and-claim", scope="read:messages", tier=2), handler, "insufficient_claims")


def test_composition_without_a_token_is_401(api, tenant):
    assert api.get("/either-scope").status_code == 401


# -- claims and organizations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "claims", "status"),
    [
        pytest.param("claim-equals", {"org_id": "org_abc"}, 200, id="equals"),
        pytest.param("claim-equals", {"org_id": "org_abcd"}, 403, id="equals-another"),
        pytest.param("claim-equals", {"org_id": ["org_abc"]}, 403, id="equals-not-an-array-of-it"),
        pytest.param("claim-equals", {}, 403, id="equals-missing"),
        pytest.param("claim-includes", {"roles": ["viewer", "editor"]}, 200, id="includes-array-entry"),
        pytest.param("claim-includes", {"roles": "viewer editor"}, 200, id="includes-word"),
        pytest.param("claim-includes", {"roles": "viewer editors"}, 403, id="includes-never-a-substring"),
        pytest.param("claim-includes", {"roles": ["editor-in-chief"]}, 403, id="includes-never-a-prefix"),
        pytest.param("claim-includes", {"roles": {"editor": True}}, 403, id="includes-an-object"),
        pytest.param("claim-includes-number", {"levels": [2, 1]}, 200, id="includes-a-number-entry"),
        pytest.param("claim-includes-number", {"levels": [True]}, 403, id="includes-true-is-no-1"),
        pytest.param("claim-includes-number", {"levels": [1.5, "1"]}, 403, id="includes-no-other-number-or-text"),
        pytest.param("claim-check", {"age": 30}, 200, id="check-passes"),
        pytest.param("claim-check", {"age": 12}, 403, id="check-fails"),
        pytest.param("claim-check", {"age": "thirty"}, 403, id="check-raises-type-error"),
        pytest.param("claim-check", {}, 403, id="check-missing"),
        pytest.param("organization", {"org_id": "org_abc"}, 200, id="organization-by-id"),
        pytest.param("organization", {"org_name": "acme"}, 200, id="organization-by-name-lower-cased"),
        pytest.param("organization", {"org_name": "ACME"}, 200, id="organization-by-name-any-case"),
        pytest.param("organization", {"org_id": "org_xyz", "org_name": "other"}, 403, id="organization-another"),
        pytest.param("organization", {"org_id": "acme"}, 403, id="organization-a-name-is-no-id"),
        pytest.param("organization", {"org_name": "org_abc"}, 403, id="organization-an-id-is-no-name"),
        pytest.param("organization", {"org_id": "ORG_ABC"}, 403, id="organization-an-id-is-never-lower-cased"),
        pytest.param("organization", {}, 403, id="organization-none"),
    ],
)
def test_requires_claim_and_requires_organization(send, handler, url, claims, status):
    response = send("GET", url, **claims)
    assert response.status_code == status
    if status == 403:
        assert_insufficient(response, handler, "insufficient_claims")


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        pytest.param({"org_id": "org_abc"}, 200, id="listed-id"),
        pytest.param({"org_name": "Acme"}, 200, id="listed-name"),
        pytest.param({"org_name": "ACME"}, 200, id="listed-name-lower-cased"),
        pytest.param({"org_id": "org_other"}, 401, id="another-organization"),
        pytest.param({"org_id": "ORG_ABC"}, 401, id="an-id-is-never-lower-cased"),
        pytest.param({"org_name": "org_abc"}, 401, id="an-id-is-no-name"),
        pytest.param({"org_id": "acme"}, 401, id="a-name-is-no-id"),
        pytest.param({}, 401, id="no-organization"),
    ],
)
def test_organizations_setting_refuses_other_tokens_like_a_wrong_audience(settings, send, claims, status):
    settings.AUTH0_ORGANIZATIONS = "org_abc, acme"
    response = send("GET", "plain", **claims)
    assert response.status_code == status
    if status == 401:
        assert response.json()["code"] == "invalid_claims"
        assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
