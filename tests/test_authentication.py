"""The DRF adapters: the authentication class, the token user and HasScope."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.authentication import BasicAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.authentication import Auth0JWTAuthentication
from authn.handlers import Refused
from authn.permissions import HasScope
from authn.tokens import AccessToken
from authn.users import TokenUser


def authenticate(rf, authorization=None, *others):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    request = Request(rf.get("/api/private", **headers), authenticators=[Auth0JWTAuthentication(), *others])
    return Auth0JWTAuthentication().authenticate(request)


def test_authenticate_without_header_returns_none(rf):
    assert authenticate(rf) is None


def test_authenticate_valid_token_returns_token_user_and_token(rf, tenant, make_token):
    user, token = authenticate(rf, f"Bearer {make_token(sub='auth0|42', permissions=['write:x'])}")
    assert isinstance(user, TokenUser)
    assert isinstance(token, AccessToken)
    assert user.is_authenticated
    assert not user.is_anonymous
    assert user.pk == user.id == user.get_username() == str(user) == "auth0|42"
    assert user.scopes == frozenset({"openid", "read:messages", "write:x"})
    assert user.has_scopes("read:messages", "write:x")
    assert not user.has_scopes("admin")
    assert user.claims["sub"] == "auth0|42"
    assert token.claims["permissions"] == ("write:x",)


def test_token_user_claims_are_read_only(rf, tenant, make_token):
    user, _ = authenticate(rf, f"Bearer {make_token(extra={'nested': [1, {'a': 2}]})}")
    with pytest.raises(TypeError):
        user.claims["sub"] = "someone-else"
    with pytest.raises(TypeError):
        user.claims["extra"]["nested"][1]["a"] = 3
    with pytest.raises(AttributeError):
        user.token.claims = {}


def test_token_users_compare_by_subject(rf, tenant, make_token):
    first, _ = authenticate(rf, f"Bearer {make_token()}")
    second, _ = authenticate(rf, f"Bearer {make_token(scope='other')}")
    assert first == second
    assert len({first, second}) == 1


@pytest.mark.parametrize(
    ("mode", "challenge"),
    [
        ("allowed", 'Bearer realm="api", DPoP algs="ES256"'),
        ("required", 'DPoP algs="ES256"'),
        ("disabled", 'Bearer realm="api"'),
    ],
)
def test_authenticate_header_without_credentials_names_the_accepted_schemes(rf, settings, mode, challenge):
    settings.AUTH0_DPOP = mode
    assert Auth0JWTAuthentication().authenticate_header(Request(rf.get("/"))) == challenge


def test_realm_is_a_setting(call, settings):
    settings.AUTH0_REALM = "messages"
    settings.AUTH0_DPOP = "disabled"
    assert call("/api/private")["WWW-Authenticate"] == 'Bearer realm="messages"'


# -- the Authorization header, as RFC 7235 reads it ---------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer ", id="scheme-and-space"),
        pytest.param("Bearer a b", id="two-credentials"),
        pytest.param("Bearer\ttoken.a.b", id="tab"),
        pytest.param("Bearer\xa0token.a.b", id="no-break-space"),
        pytest.param("Bearer\u2003token.a.b", id="em-space"),
        pytest.param("Bearer token.a.b ", id="trailing-space"),
        pytest.param(" Bearer token.a.b", id="leading-space"),
        pytest.param("Bearer token\x00.a.b", id="nul"),
        pytest.param("Bearer tok=en.a.b", id="padding-inside"),
        pytest.param("Bearer token.a.b,Bearer x", id="comma-list"),
        pytest.param("", id="empty"),
        pytest.param("Basic dXNlcjpwYXNz", id="other-scheme-alone"),
    ],
)
def test_malformed_authorization_header_is_invalid_request(rf, tenant, header):
    with pytest.raises(Refused) as refused:
        authenticate(rf, header)
    assert refused.value.error.code == "invalid_header"
    assert refused.value.error.challenge_error == "invalid_request"
    assert tenant.fetches == 0


@pytest.mark.parametrize("spaces", [" ", "  ", "     "])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive_and_any_number_of_spaces_separate_it(rf, tenant, make_token, scheme, spaces):
    user, _ = authenticate(rf, f"{scheme}{spaces}{make_token()}")
    assert user.pk == "auth0|user-1"


def test_oversized_header_is_refused_before_parsing(rf, settings, tenant):
    settings.AUTH0_MAX_TOKEN_LENGTH = 100
    for header in ("Bearer " + "a" * 200, "DPoP " + "a" * 200, "Bearer" + " " * 200 + "a"):
        with pytest.raises(Refused) as refused:
            authenticate(rf, header)
        assert refused.value.error.challenge_error == "invalid_token"


def test_oversized_token_is_401_invalid_token(call, tenant):
    response = call("/api/private", authorization="Bearer " + "a" * 9000)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert tenant.fetches == 0


# -- composing with other authentication classes ----------------------------------------


@pytest.mark.parametrize(
    ("header", "other"),
    [
        pytest.param("Basic " + base64.b64encode(b"user:pass").decode(), BasicAuthentication(), id="basic"),
        pytest.param("Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", TokenAuthentication(), id="token"),
        pytest.param("Basic " + base64.b64encode(b"user:pass").decode(), SessionAuthentication(), id="session"),
    ],
)
def test_other_scheme_is_left_to_the_classes_listed_after(rf, tenant, header, other):
    assert authenticate(rf, header, other) is None
    with pytest.raises(Refused):
        authenticate(rf, header)  # listed alone, the class refuses it as today


def test_our_schemes_are_still_ours_when_others_are_listed(rf, tenant):
    with pytest.raises(Refused):
        authenticate(rf, "Bearer not-a-token", SessionAuthentication())


def test_dpop_scheme_is_another_scheme_when_dpop_is_disabled(rf, settings, tenant):
    settings.AUTH0_DPOP = "disabled"
    assert authenticate(rf, "DPoP a.b.c", SessionAuthentication()) is None


# -- HasScope ----------------------------------------------------------------------------


class ScopedView(APIView):
    permission_classes = (HasScope,)
    required_scopes = ("read:messages", "write:messages")


class UndeclaredView(APIView):
    permission_classes = (HasScope,)


def has_scope(rf, view, authorization=None):
    request = Request(
        rf.get("/", **({"HTTP_AUTHORIZATION": authorization} if authorization else {})),
        authenticators=[Auth0JWTAuthentication()],
    )
    return HasScope().has_permission(request, view)


def test_has_scope_requires_every_declared_scope(rf, tenant, make_token):
    assert has_scope(rf, ScopedView(), f"Bearer {make_token(scope='read:messages write:messages')}")
    with pytest.raises(Refused) as refused:
        has_scope(rf, ScopedView(), f"Bearer {make_token(scope='read:messages')}")
    assert refused.value.status_code == 403
    assert refused.value.auth_header == (
        'Bearer realm="api", error="insufficient_scope", scope="read:messages write:messages"'
    )


def test_has_scope_combines_scope_and_permissions_claims(rf, tenant, make_token):
    token = make_token(scope="read:messages", permissions=["write:messages"])
    assert has_scope(rf, ScopedView(), f"Bearer {token}")


def test_has_scope_without_token_denies_so_drf_answers_401(rf):
    assert has_scope(rf, ScopedView()) is False


@pytest.mark.parametrize("scopes", [None, [], "read:messages", ["read:messages", 3], [""]])
def test_has_scope_on_view_without_valid_required_scopes_is_configuration_error(rf, scopes):
    view = UndeclaredView()
    if scopes is not None:
        view.required_scopes = scopes
    with pytest.raises(ImproperlyConfigured, match="required_scopes"):
        has_scope(rf, view)


class BasicAfterOursView(APIView):
    authentication_classes = (Auth0JWTAuthentication, BasicAuthentication)

    def get(self, request):
        return Response({"user": str(request.user)})


@pytest.mark.django_db
def test_refused_credentials_of_another_class_get_that_class_challenge(rf, tenant):
    header = "Basic " + base64.b64encode(b"nobody:wrong").decode()
    response = BasicAfterOursView.as_view()(rf.get("/", HTTP_AUTHORIZATION=header))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
