"""authn's settings: one table of names and defaults, read into one snapshot, read again when one changes."""

from __future__ import annotations

import pytest

from authn import conf
from authn.conf import AuthnSettings, TrustMode
from authn.defaults import DEFAULTS, SETTINGS, DPoPMode
from tests.support.checkout import ROOT


def test_snapshot_has_one_field_per_setting_and_django_debug():
    fields = set(AuthnSettings.__dataclass_fields__)
    assert fields == {entry.field for entry in SETTINGS} | {"debug"}


def test_snapshot_is_read_again_when_a_setting_changes(settings):
    settings.AUTH0_LEEWAY_SECONDS = 42
    assert conf.get().leeway_seconds == 42
    del settings.AUTH0_LEEWAY_SECONDS
    assert conf.get().leeway_seconds == DEFAULTS["AUTH0_LEEWAY_SECONDS"]
    assert conf.get() is conf.get()  # read once until the next change


@pytest.mark.parametrize(
    ("name", "value", "field", "read"),
    [
        pytest.param("AUTH0_DPOP", "required", "dpop", DPoPMode.REQUIRED, id="choice"),
        pytest.param("AUTH0_DPOP", "sometimes", "dpop", DPoPMode.ALLOWED, id="choice-unknown-is-the-default"),
        pytest.param("AUTH0_ALGORITHMS", "RS256, PS256", "algorithms", ("RS256", "PS256"), id="list-from-text"),
        pytest.param("AUTH0_AUDIENCE", 42, "audience", (), id="list-of-another-type-is-empty"),
        pytest.param("AUTH0_LEEWAY_SECONDS", "10", "leeway_seconds", 10, id="number-as-text-is-the-default"),
        pytest.param("AUTH0_LEEWAY_SECONDS", True, "leeway_seconds", 10, id="boolean-is-not-a-number"),
        pytest.param("AUTH0_MAX_TOKEN_LENGTH", 0, "max_token_length", 8192, id="zero-is-not-positive"),
        pytest.param("AUTH0_JWKS_URL", None, "jwks_url", "", id="text-of-another-type-is-empty"),
    ],
)
def test_snapshot_reads_each_value_as_its_kind_says(settings, name, value, field, read):
    setattr(settings, name, value)
    assert getattr(conf.get(), field) == read


@pytest.mark.parametrize(
    ("domain", "debug", "mode"),
    [
        pytest.param("dev-abc.us.auth0.com", False, TrustMode.ISSUERS, id="domain"),
        pytest.param(lambda request: [], True, TrustMode.RESOLVER, id="resolver"),
        pytest.param("", True, TrustMode.DEVELOPMENT, id="debug-without-domain"),
        pytest.param("", False, TrustMode.NONE, id="neither"),
    ],
)
def test_trust_mode_is_decided_by_the_domain_and_debug(settings, domain, debug, mode):
    settings.AUTH0_DOMAIN, settings.DEBUG = domain, debug
    assert conf.get().trust_mode is mode


def test_dev_key_file_is_relative_to_the_project_directory(settings, tmp_path):
    settings.AUTH0_DEV_KEY_FILE = "keys/dev.pem"
    assert conf.get().dev_key_file == ROOT / "keys" / "dev.pem"
    settings.AUTH0_DEV_KEY_FILE = tmp_path / "dev.pem"
    assert conf.get().dev_key_file == tmp_path / "dev.pem"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://a.example.com", ["https://a.example.com"]),
        ("https://a.example.com, https://b.example.com", ["https://a.example.com", "https://b.example.com"]),
        (["https://a.example.com", " "], ["https://a.example.com"]),
        ("", []),
    ],
)
def test_audiences_accept_comma_separated_or_list(settings, value, expected):
    settings.AUTH0_AUDIENCE = value
    assert list(conf.get().audience) == expected


def test_several_audiences_are_all_accepted(settings, call, tenant, make_token):
    settings.AUTH0_AUDIENCE = "https://first.example.com, https://api.example.com/messages"
    assert call("/api/private", token=make_token()).status_code == 200
    assert call("/api/private", token=make_token(aud="https://first.example.com")).status_code == 200
    assert call("/api/private", token=make_token(aud="https://third.example.com")).status_code == 401


def test_key_fetch_defaults_are_the_documented_policy():
    """At most one fetch per 5 s per process, each ending within 5 s."""
    assert DEFAULTS["AUTH0_JWKS_COOLDOWN_SECONDS"] == 5
    assert DEFAULTS["AUTH0_JWKS_CONNECT_TIMEOUT"] + DEFAULTS["AUTH0_JWKS_READ_TIMEOUT"] <= 5
