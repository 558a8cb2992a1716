"""Configuration: the environment (and a .env file) becomes flat Django settings."""

from __future__ import annotations

import pytest

from authn.conf import auth0_settings
from config.env import Environment, read_dotenv


def test_read_dotenv_parses_comments_quotes_and_export(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# a comment\n"
        "AUTH0_DOMAIN=dev-abc.us.auth0.com\n"
        "export AUTH0_AUDIENCE='https://api.example.com, https://other.example.com'\n"
        'DJANGO_SECRET_KEY="with # hash and spaces"\n'
        "DJANGO_DEBUG=true  # trailing comment\n"
        "not a line\n"
        "EMPTY=\n"
    )
    assert read_dotenv(dotenv) == {
        "AUTH0_DOMAIN": "dev-abc.us.auth0.com",
        "AUTH0_AUDIENCE": "https://api.example.com, https://other.example.com",
        "DJANGO_SECRET_KEY": "with # hash and spaces",
        "DJANGO_DEBUG": "true",
        "EMPTY": "",
    }


def test_missing_dotenv_is_empty(tmp_path):
    assert read_dotenv(tmp_path / "absent") == {}


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("AUTH0_DOMAIN=from-file.example.com\nDJANGO_DEBUG=yes\n")
    monkeypatch.setenv("AUTH0_DOMAIN", "from-env.example.com")
    monkeypatch.delenv("DJANGO_DEBUG", raising=False)
    env = Environment(dotenv)
    assert env.str("AUTH0_DOMAIN") == "from-env.example.com"
    assert env.bool("DJANGO_DEBUG") is True


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("ON", True), ("false", False), ("0", False), ("", False)]
)
def test_environment_bool(tmp_path, monkeypatch, value, expected):
    monkeypatch.setenv("SOME_FLAG", value)
    assert Environment(tmp_path / ".env").bool("SOME_FLAG") is expected


def test_environment_list_splits_on_commas(tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_LIST", " a.example.com, ,b.example.com ")
    env = Environment(tmp_path / ".env")
    assert env.list("SOME_LIST") == ["a.example.com", "b.example.com"]
    assert env.list("UNSET_LIST", default="localhost,127.0.0.1") == ["localhost", "127.0.0.1"]


def test_issuer_and_jwks_url_derive_from_domain(settings):
    settings.AUTH0_DOMAIN = "dev-abc.us.auth0.com"
    settings.AUTH0_ISSUER = ""
    settings.AUTH0_JWKS_URL = ""
    assert auth0_settings.issuer == "https://dev-abc.us.auth0.com/"
    assert auth0_settings.jwks_url == "https://dev-abc.us.auth0.com/.well-known/jwks.json"


def test_jwks_url_derives_from_explicit_issuer(settings):
    settings.AUTH0_DOMAIN = "login.example.com"
    settings.AUTH0_ISSUER = "https://login.example.com/tenant/"
    settings.AUTH0_JWKS_URL = ""
    assert auth0_settings.jwks_url == "https://login.example.com/tenant/.well-known/jwks.json"


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
    assert auth0_settings.audiences == expected


def test_several_audiences_are_all_accepted(settings, call, tenant, make_token):
    settings.AUTH0_AUDIENCE = "https://first.example.com, https://api.example.com/messages"
    assert call("/api/private", token=make_token()).status_code == 200
    assert call("/api/private", token=make_token(aud="https://first.example.com")).status_code == 200
    assert call("/api/private", token=make_token(aud="https://third.example.com")).status_code == 401
