"""The DRF adapters: the authentication class, the token user and HasScope."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.views import APIView

from authn.authentication import Auth0JWTAuthentication, bearer_token
from authn.exceptions import InsufficientScope, InvalidRequest, InvalidToken
from authn.permissions import HasScope
from authn.tokens import AccessToken
from authn.users import TokenUser


def authenticate(rf, authorization=None):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return Auth0JWTAuthentication().authenticate(Request(rf.get("/api/private", **headers)))


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


def test_authenticate_header_is_bare_bearer_challenge(rf):
    assert Auth0JWTAuthentication().authenticate_header(Request(rf.get("/"))) == 'Bearer realm="api"'


def test_realm_is_a_setting(call, settings):
    settings.AUTH0_REALM = "messages"
    assert call("/api/private")["WWW-Authenticate"] == 'Bearer realm="messages"'


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer a b", "", "Bearer\x00"])
def test_bearer_token_malformed_header_is_invalid_request(header):
    with pytest.raises(InvalidRequest):
        bearer_token(header)


def test_bearer_token_oversized_header_is_refused_before_parsing(settings):
    settings.AUTH0_MAX_TOKEN_LENGTH = 100
    with pytest.raises(InvalidToken):
        bearer_token("Bearer " + "a" * 101)
    with pytest.raises(InvalidToken):
        bearer_token(" " * 200)


def test_oversized_token_is_401_invalid_token(call, tenant):
    response = call("/api/private", authorization="Bearer " + "a" * 9000)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert tenant.fetches == 0


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
    with pytest.raises(InsufficientScope) as refused:
        has_scope(rf, ScopedView(), f"Bearer {make_token(scope='read:messages')}")
    assert 'scope="read:messages write:messages"' in refused.value.challenge()


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
