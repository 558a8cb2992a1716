"""System checks: each misconfiguration is an Error with its own id and a hint."""

from __future__ import annotations

import pytest
from django.core.checks import Error, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django.urls import path
from rest_framework.views import APIView

from authn.permissions import HasScope


def error_ids(include_deployment_checks: bool = False) -> set[str]:
    messages = run_checks(include_deployment_checks=include_deployment_checks)
    errors = [m for m in messages if isinstance(m, Error)]
    assert all(m.hint for m in errors if m.id.startswith("authn."))
    return {m.id for m in errors}


def test_checks_valid_tenant_configuration_passes(tenant_settings):
    assert not {i for i in error_ids(include_deployment_checks=True) if i.startswith("authn.")}


def test_check_deploy_production_configuration_reports_no_errors(tenant_settings):
    tenant_settings.ALLOWED_HOSTS = ["api.example.com"]
    call_command("check", "--deploy", "--fail-level", "ERROR")  # raises SystemCheckError on any error


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param("https://dev-abc.us.auth0.com", id="scheme"),
        pytest.param("dev-abc.us.auth0.com/", id="trailing-slash"),
        pytest.param("dev-abc.us.auth0.com/api", id="path"),
        pytest.param("user@dev-abc.us.auth0.com", id="userinfo"),
        pytest.param("dev-abc.us.auth0.com?x=1", id="query"),
    ],
)
def test_checks_domain_with_scheme_or_path_is_error(tenant_settings, domain):
    tenant_settings.AUTH0_DOMAIN = domain
    assert "authn.E001" in error_ids()


@pytest.mark.parametrize("domain", ["dev-abc.us.auth0.com", "login.example.com", "localhost:8443", "127.0.0.1:9000"])
def test_checks_bare_domain_with_optional_port_passes(tenant_settings, domain):
    tenant_settings.AUTH0_DOMAIN = domain
    assert "authn.E001" not in error_ids()


def test_checks_domain_without_audience_is_error(tenant_settings):
    tenant_settings.AUTH0_AUDIENCE = []
    assert "authn.E002" in error_ids()


@pytest.mark.parametrize(
    "algorithms",
    [
        pytest.param(["none"], id="none"),
        pytest.param(["RS256", "none"], id="rs256-and-none"),
        pytest.param(["HS256"], id="hs256"),
        pytest.param(["RS256", "HS512"], id="rs256-and-hs512"),
        pytest.param(["ES256"], id="unsupported-ec"),
        pytest.param([], id="empty"),
        pytest.param("RS256", id="string-not-list"),
    ],
)
def test_checks_unsafe_algorithm_list_is_error(tenant_settings, algorithms):
    tenant_settings.AUTH0_ALGORITHMS = algorithms
    assert "authn.E003" in error_ids()


def test_checks_rsa_algorithms_pass(tenant_settings):
    tenant_settings.AUTH0_ALGORITHMS = ["RS256", "PS256"]
    assert "authn.E003" not in error_ids()


@pytest.mark.parametrize(
    ("setting", "url", "error_id"),
    [
        ("AUTH0_JWKS_URL", "http://tenant.example.com/.well-known/jwks.json", "authn.E004"),
        ("AUTH0_JWKS_URL", "ftp://tenant.example.com/jwks.json", "authn.E004"),
        ("AUTH0_ISSUER", "http://tenant.example.com/", "authn.E005"),
    ],
)
def test_checks_plain_http_to_remote_host_is_error(tenant_settings, setting, url, error_id):
    setattr(tenant_settings, setting, url)
    assert error_id in error_ids()


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"])
def test_checks_plain_http_to_loopback_passes(tenant_settings, host):
    tenant_settings.AUTH0_ISSUER = f"http://{host}/"
    tenant_settings.AUTH0_JWKS_URL = f"http://{host}/.well-known/jwks.json"
    assert not error_ids() & {"authn.E004", "authn.E005"}


def test_checks_issuer_without_domain_is_error(settings):
    settings.AUTH0_DOMAIN = ""
    settings.AUTH0_ISSUER = "https://tenant.example.com/"
    assert "authn.E006" in error_ids()


def test_checks_deploy_without_domain_and_debug_off_is_error(settings):
    settings.DEBUG = False
    settings.AUTH0_DOMAIN = ""
    assert "authn.E007" in error_ids(include_deployment_checks=True)
    assert "authn.E007" not in error_ids()  # the server still starts; it trusts nothing
    with pytest.raises(SystemCheckError, match=r"authn\.E007"):
        call_command("check", "--deploy")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("AUTH0_JWKS_CACHE_SECONDS", 0),
        ("AUTH0_JWKS_CONNECT_TIMEOUT", -1),
        ("AUTH0_JWKS_READ_TIMEOUT", "3"),
        ("AUTH0_JWKS_MAX_BYTES", None),
        ("AUTH0_MAX_TOKEN_LENGTH", True),
        ("AUTH0_LEEWAY_SECONDS", -5),
        ("AUTH0_JWKS_COOLDOWN_SECONDS", "5"),
        ("AUTH0_TOKEN_CACHE_SIZE", -1),
    ],
)
def test_checks_bad_numeric_setting_is_error(tenant_settings, setting, value):
    setattr(tenant_settings, setting, value)
    assert "authn.E008" in error_ids()


def test_checks_zero_is_fine_where_it_means_off(tenant_settings):
    tenant_settings.AUTH0_LEEWAY_SECONDS = 0
    tenant_settings.AUTH0_TOKEN_CACHE_SIZE = 0
    tenant_settings.AUTH0_JWKS_STALE_SECONDS = 0
    assert "authn.E008" not in error_ids()


@pytest.mark.parametrize(("setting", "value"), [("AUTH0_SCOPE_CLAIM", ""), ("AUTH0_PERMISSIONS_CLAIM", None)])
def test_checks_empty_claim_name_is_error(tenant_settings, setting, value):
    setattr(tenant_settings, setting, value)
    assert "authn.E009" in error_ids()


def test_checks_unreadable_dev_issuer_key_is_error(dev_issuer):
    dev_issuer.parent.mkdir()
    dev_issuer.write_text("not a key")
    assert "authn.E010" in error_ids()


class ScopedWithoutScopes(APIView):
    permission_classes = (HasScope,)


class ScopedWithStringScope(APIView):
    permission_classes = (HasScope,)
    required_scopes = "read:messages"


urlpatterns = [
    path("no-scopes", ScopedWithoutScopes.as_view()),
    path("string-scope", ScopedWithStringScope.as_view()),
]


@override_settings(ROOT_URLCONF=__name__)
def test_checks_scoped_view_without_required_scopes_is_error():
    errors = [m for m in run_checks() if m.id == "authn.E011"]
    assert {m.obj for m in errors} == {ScopedWithoutScopes, ScopedWithStringScope}


def test_checks_project_views_declare_their_scopes():
    assert "authn.E011" not in error_ids()


def test_checks_deploy_without_secret_key_is_error(settings):
    del settings.SECRET_KEY  # as good as empty ("" cannot be set and restored under override_settings)
    assert {"authn.E018", "config.E001"} <= error_ids(include_deployment_checks=True)
    settings.SECRET_KEY = "a-long-secret-made-up-for-this-test-only-0123456789"
    assert not {"authn.E018", "config.E001"} & error_ids(include_deployment_checks=True)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(2.5, id="fraction"),
        pytest.param("2", id="text"),
        pytest.param(True, id="boolean"),
        pytest.param(None, id="none"),
    ],
)
def test_checks_jwks_max_waiting_not_a_positive_integer_is_e023(tenant_settings, value):
    tenant_settings.AUTH0_JWKS_MAX_WAITING = value
    assert "authn.E023" in error_ids()


@pytest.mark.parametrize("value", [1, 2, 64])
def test_checks_jwks_max_waiting_positive_integer_passes(tenant_settings, value):
    tenant_settings.AUTH0_JWKS_MAX_WAITING = value
    assert "authn.E023" not in error_ids()


@pytest.mark.parametrize(
    ("value", "named"),
    [
        pytest.param("https://www.googleapis.com", "'https://www.googleapis.com' is not one", id="scheme"),
        pytest.param(["www.googleapis.com/oauth2"], "'www.googleapis.com/oauth2' is not one", id="path"),
        pytest.param("keys.example.com,keys.example.com:99999", "'keys.example.com:99999'", id="port-out-of-range"),
        pytest.param(42, "must be a string or a list, got int", id="a-number"),
    ],
)
def test_checks_jwks_hosts_not_bare_host_names_is_e024(tenant_settings, value, named):
    tenant_settings.AUTH0_JWKS_HOSTS = value

    errors = [m for m in run_checks() if m.id == "authn.E024"]

    assert len(errors) == 1
    assert named in errors[0].msg


@pytest.mark.parametrize(
    "value", ["", "www.googleapis.com", "keys.example.com:8443, www.googleapis.com", ["127.0.0.1:9000"]]
)
def test_checks_jwks_hosts_bare_host_names_pass(tenant_settings, value):
    tenant_settings.AUTH0_JWKS_HOSTS = value
    assert "authn.E024" not in error_ids()
