"""``authn.issuers`` alone: the issuers a configuration trusts, and the domains a resolver returns.

Expected issuers and key set URLs are written out by hand from the rules: a domain ``d`` is the issuer
``https://d/``, its key set at ``{issuer}.well-known/jwks.json`` unless its discovery document says; an
issuer setting is filed under the domain whose host and port it names. How the settings are read into a
snapshot is tests/test_conf.py; several issuers at work, tests/test_issuers.py.
"""

from __future__ import annotations

import logging

import pytest

from authn import conf
from authn.issuers import Resolver, configured_issuers, default_jwks_url, domain_problem, issuer_of, issuers_by_domain

BARE = "it is not a bare host name (no https://, no path)"
BAD_PORT = "its port is not a number from 0 to 65535"


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param("dev-abc.us.auth0.com", id="auth0-tenant"),
        pytest.param("login.example.com:8443", id="with-a-port"),
        pytest.param("127.0.0.1:8443", id="ipv4-with-a-port"),
        pytest.param("[::1]:8443", id="ipv6-with-a-port"),
        pytest.param("xn--bcher-kva.example", id="punycode"),
    ],
)
def test_domain_problem_bare_host_name_has_none(domain):
    assert domain_problem(domain) is None


@pytest.mark.parametrize(
    ("domain", "problem"),
    [
        pytest.param("https://login.example.com", BARE, id="with-a-scheme"),
        pytest.param("login.example.com/tenant", BARE, id="with-a-path"),
        pytest.param("login.example.com?tenant=1", BARE, id="with-a-query"),
        pytest.param("someone@login.example.com", BARE, id="with-userinfo"),
        pytest.param(":8443", BARE, id="port-without-host"),
        pytest.param("", BARE, id="empty"),
        pytest.param("login.example.com:99999", BAD_PORT, id="port-out-of-range"),
        pytest.param("login.example.com:-1", BAD_PORT, id="port-negative"),
        pytest.param("login.example.com:https", BAD_PORT, id="port-a-name"),
        pytest.param("login .example.com", "it contains whitespace", id="inner-space"),
        pytest.param(" login.example.com", "it contains whitespace", id="leading-space"),
    ],
)
def test_domain_problem_names_what_is_wrong(domain, problem):
    assert domain_problem(domain) == problem


def test_issuer_of_a_domain_is_its_https_origin_with_a_trailing_slash():
    assert issuer_of("dev-abc.us.auth0.com") == "https://dev-abc.us.auth0.com/"
    assert issuer_of("127.0.0.1:8443") == "https://127.0.0.1:8443/"


@pytest.mark.parametrize(
    ("issuer", "discovery", "expected"),
    [
        pytest.param("https://a.example.com/", False, "https://a.example.com/.well-known/jwks.json", id="slash"),
        pytest.param("https://a.example.com", False, "https://a.example.com/.well-known/jwks.json", id="no-slash"),
        pytest.param("https://a.example.com/t/", False, "https://a.example.com/t/.well-known/jwks.json", id="path"),
        pytest.param("https://a.example.com/", True, None, id="discovery"),
    ],
)
def test_default_jwks_url_is_under_the_issuer_unless_discovery_says(issuer, discovery, expected):
    assert default_jwks_url(issuer, discovery=discovery) == expected


# -- configured_issuers: one per domain listed ---------------------------------


def test_one_domain_derives_issuer_and_jwks_url(settings):
    settings.AUTH0_DOMAIN, settings.AUTH0_ISSUER, settings.AUTH0_JWKS_URL = "dev-abc.us.auth0.com", "", ""
    [config] = configured_issuers(conf.get())
    assert config.issuer == "https://dev-abc.us.auth0.com/"
    assert config.jwks_url == "https://dev-abc.us.auth0.com/.well-known/jwks.json"


def test_jwks_url_derives_from_explicit_issuer(settings):
    settings.AUTH0_DOMAIN = "login.example.com"
    settings.AUTH0_ISSUER = "https://login.example.com/tenant/"
    settings.AUTH0_JWKS_URL = ""
    assert configured_issuers(conf.get())[0].jwks_url == "https://login.example.com/tenant/.well-known/jwks.json"


@pytest.mark.parametrize(
    "value", ["dev-abc.us.auth0.com, login.example.com", ["dev-abc.us.auth0.com", "login.example.com"]]
)
def test_several_domains_are_several_issuers_each_with_its_key_set(settings, value):
    settings.AUTH0_DOMAIN, settings.AUTH0_ISSUER, settings.AUTH0_JWKS_URL = value, "", ""
    assert [(c.issuer, c.jwks_url) for c in configured_issuers(conf.get())] == [
        ("https://dev-abc.us.auth0.com/", "https://dev-abc.us.auth0.com/.well-known/jwks.json"),
        ("https://login.example.com/", "https://login.example.com/.well-known/jwks.json"),
    ]


@pytest.mark.parametrize(
    ("value", "issuer"),
    [
        pytest.param("https://login.example.com", "https://login.example.com", id="without-trailing-slash"),
        pytest.param(["https://LOGIN.example.com:443"], "https://LOGIN.example.com:443", id="as-written"),
        pytest.param(" https://login.example.com/tenant, ", "https://login.example.com/tenant", id="with-a-path"),
    ],
)
def test_several_domains_each_take_the_issuer_naming_their_host(settings, value, issuer):
    settings.AUTH0_DOMAIN, settings.AUTH0_ISSUER, settings.AUTH0_JWKS_URL = (
        "a.example.com, login.example.com",
        value,
        "",
    )
    assert [(c.issuer, c.jwks_url) for c in configured_issuers(conf.get())] == [
        ("https://a.example.com/", "https://a.example.com/.well-known/jwks.json"),
        (issuer, issuer + "/.well-known/jwks.json"),
    ]


def test_discovery_leaves_the_key_set_url_to_the_document(settings):
    settings.AUTH0_DOMAIN, settings.AUTH0_OIDC_DISCOVERY = "login.example.com", True
    settings.AUTH0_ISSUER, settings.AUTH0_JWKS_URL = "", ""
    assert [(c.issuer, c.jwks_url) for c in configured_issuers(conf.get())] == [("https://login.example.com/", None)]


def test_several_domains_ignore_the_jwks_url_setting(settings):
    """One key set URL cannot serve two tenants (a system check says so): each domain's own is used."""
    settings.AUTH0_DOMAIN, settings.AUTH0_ISSUER = "a.example.com, b.example.com", ""
    settings.AUTH0_JWKS_URL = "https://keys.example.com/jwks.json"
    assert [c.jwks_url for c in configured_issuers(conf.get())] == [
        "https://a.example.com/.well-known/jwks.json",
        "https://b.example.com/.well-known/jwks.json",
    ]


def test_one_domain_takes_the_jwks_url_setting(settings):
    settings.AUTH0_DOMAIN, settings.AUTH0_ISSUER = "a.example.com", ""
    settings.AUTH0_JWKS_URL = "https://keys.example.com/jwks.json"
    assert [(c.issuer, c.jwks_url) for c in configured_issuers(conf.get())] == [
        ("https://a.example.com/", "https://keys.example.com/jwks.json")
    ]


def test_a_domain_listed_twice_is_one_issuer(settings):
    settings.AUTH0_DOMAIN, settings.AUTH0_ISSUER, settings.AUTH0_JWKS_URL = (
        "b.example.com, a.example.com, b.example.com",
        "",
        "",
    )
    assert [c.issuer for c in configured_issuers(conf.get())] == ["https://b.example.com/", "https://a.example.com/"]


def test_a_resolver_configures_no_issuers(settings):
    settings.AUTH0_DOMAIN = lambda request: ["a.example.com"]
    assert configured_issuers(conf.get()) == []


# -- issuers_by_domain: whose is each issuer setting -----------------------------------


def test_issuers_by_domain_single_domain_takes_its_single_issuer_whatever_its_host():
    assert issuers_by_domain(["a.example.com"], ["https://login.example.net/tenant/"]) == {
        "a.example.com": ["https://login.example.net/tenant/"]
    }


def test_issuers_by_domain_files_each_issuer_under_the_host_and_port_it_names():
    domains = ["a.example.com", "b.example.com:8443"]
    issuers = [
        "https://A.example.com:443/",  # host in another case, the default port written
        "https://b.example.com:8443/tenant/",
        "https://b.example.com/",  # b's host, but not its port
        "https://c.example.com/",  # no listed domain's
        "http://a.example.com/",  # a's host and http's default port: filed as it names them
    ]

    assert issuers_by_domain(domains, issuers) == {
        "a.example.com": ["https://A.example.com:443/", "http://a.example.com/"],
        "b.example.com:8443": ["https://b.example.com:8443/tenant/"],
        None: ["https://b.example.com/", "https://c.example.com/"],
    }


def test_issuers_by_domain_without_issuers_is_empty():
    assert issuers_by_domain(["a.example.com", "b.example.com"], []) == {}


# -- Resolver: the domains a project's callable returns for a request ----------------------


def resolved(rf, answer, also=frozenset()):
    return Resolver(lambda request: answer, also=also)(rf.get("/api/private"))


@pytest.mark.parametrize(
    ("answer", "issuers"),
    [
        pytest.param(
            ["a.example.com", "b.example.com:8443"],
            {"https://a.example.com/", "https://b.example.com:8443/"},
            id="list",
        ),
        pytest.param(("a.example.com",), {"https://a.example.com/"}, id="tuple"),
        pytest.param({"a.example.com"}, {"https://a.example.com/"}, id="set"),
        pytest.param("a.example.com", {"https://a.example.com/"}, id="one-string"),
        pytest.param(["a.example.com", "a.example.com"], {"https://a.example.com/"}, id="repeated"),
        pytest.param([], set(), id="empty"),
        pytest.param(None, set(), id="none"),
    ],
)
def test_resolver_each_domain_returned_is_its_https_issuer(rf, caplog, answer, issuers):
    assert resolved(rf, answer) == frozenset(issuers)
    assert not caplog.records


def test_resolver_passes_the_request_to_the_callable(rf):
    seen = []
    resolver = Resolver(lambda request: seen.append(request) or ["a.example.com"])
    request = rf.get("/api/private", HTTP_X_TENANT="a")

    assert resolver(request) == {"https://a.example.com/"}
    assert seen == [request]


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("https://a.example.com", id="a-url"),
        pytest.param("a.example.com/tenant", id="with-a-path"),
        pytest.param("a.example.com:1:2", id="two-ports"),
        pytest.param("", id="empty"),
        pytest.param(42, id="a-number"),
        pytest.param(None, id="none"),
        pytest.param(b"a.example.com", id="bytes"),
        pytest.param(["a.example.com"], id="a-nested-list"),
    ],
)
def test_resolver_entry_not_a_domain_is_ignored_with_a_warning(rf, caplog, entry):
    with caplog.at_level(logging.WARNING, logger="authn"):
        issuers = resolved(rf, [entry, "b.example.com"])

    assert issuers == {"https://b.example.com/"}
    assert [record.getMessage() for record in caplog.records] == [
        f"AUTH0_DOMAIN resolver returned {str(entry)!r}, which is not a domain; ignored"
    ]


def test_resolver_warning_shows_at_most_100_characters_of_the_entry(rf, caplog):
    with caplog.at_level(logging.WARNING, logger="authn"):
        resolved(rf, ["x" * 150 + "/path"])

    assert (
        caplog.records[0].getMessage()
        == f"AUTH0_DOMAIN resolver returned {'x' * 100!r}, which is not a domain; ignored"
    )


def test_resolver_issuers_trusted_besides_are_always_included(rf):
    also = frozenset({"https://test-issuer.example.com/"})

    assert resolved(rf, [], also) == also
    assert resolved(rf, ["a.example.com"], also) == also | {"https://a.example.com/"}
