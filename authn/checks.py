"""System checks: a misconfigured tenant is a start-up error, not a 401 storm.

One rule per check, each with its own id; ids are never reused.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import InvalidCacheBackendError, caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver

from authn import conf
from authn.conf import TrustMode, as_list
from authn.defaults import DEFAULTS, SETTINGS, DPoPMode, Kind
from authn.devissuer import DevIssuerKeyError, load_or_create_private_key
from authn.dpop import KEY_TYPES
from authn.fetch import is_allowed_url
from authn.issuers import domain_problem, issuers_by_domain
from authn.mtls import ANY_PEER, DECODERS, ip_network
from authn.permissions import HasScope, view_declarations
from authn.replay import host_store
from authn.tokens import RSA_ALGORITHMS
from authn.users import lookup_field


def raw(name: str) -> Any:
    """A setting as the project wrote it (its default if unset): what a check judges and quotes."""
    return getattr(settings, name, DEFAULTS[name])


def trusts_a_tenant() -> bool:
    return conf.get().trust_mode in (TrustMode.ISSUERS, TrustMode.RESOLVER)


HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
# Backends that drop entries before they expire when full (MAX_ENTRIES, CULL_FREQUENCY).
CULLING_CACHES = (LocMemCache, FileBasedCache, DatabaseCache)


@register(Tags.security)
def check_domain(**_: Any) -> list[CheckMessage]:
    value = raw("AUTH0_DOMAIN")
    if callable(value):
        return []
    return [
        Error(
            problem,
            hint="Give each tenant domain alone, e.g. AUTH0_DOMAIN=dev-abc.us.auth0.com,login.example.com "
            "(no https://, no path).",
            id="authn.E001",
        )
        for problem in _host_list_problems("AUTH0_DOMAIN", value, "a string, a list or a callable")
    ]


@register(Tags.security)
def check_jwks_hosts(**_: Any) -> list[CheckMessage]:
    return [
        Error(
            problem,
            hint="Give each host alone, as a discovery document's jwks_uri names it, e.g. "
            "AUTH0_JWKS_HOSTS=www.googleapis.com (no https://, no path; a port only when not 443).",
            id="authn.E024",
        )
        for problem in _host_list_problems("AUTH0_JWKS_HOSTS", raw("AUTH0_JWKS_HOSTS"), "a string or a list")
    ]


def _host_list_problems(name: str, value: Any, expected: str) -> list[str]:
    """What is wrong with a setting listing bare host names (an optional ``:port`` allowed)."""
    if not isinstance(value, (str, list, tuple)):
        return [f"{name} must be {expected}, got {type(value).__name__}."]
    return [
        f"{name} must list bare host names: {host!r} is not one, {problem}."
        for host in as_list(value)
        if (problem := domain_problem(host)) is not None
    ]


@register(Tags.security)
def check_audience(**_: Any) -> list[CheckMessage]:
    if trusts_a_tenant() and not conf.get().audience:
        return [
            Error(
                "AUTH0_AUDIENCE is not set.",
                hint="Set it to your Auth0 API's identifier (Applications > APIs > Identifier).",
                id="authn.E002",
            )
        ]
    return []


@register(Tags.security)
def check_algorithms(**_: Any) -> list[CheckMessage]:
    algorithms = raw("AUTH0_ALGORITHMS")
    if isinstance(algorithms, str) or not algorithms or not set(algorithms) <= RSA_ALGORITHMS:
        return [
            Error(
                f"AUTH0_ALGORITHMS must be a non-empty list of RSA signature algorithms, got {algorithms!r}.",
                hint="Auth0 signs access tokens with RS256; 'none' and HMAC algorithms (HS256...) are never safe "
                f"for a resource server (RFC 8725 §3.1). Supported: {', '.join(sorted(RSA_ALGORITHMS))}.",
                id="authn.E003",
            )
        ]
    return []


@register(Tags.security)
def check_urls_use_https(**_: Any) -> list[CheckMessage]:
    domains, issuers = conf.get().domains, _issuers_setting()
    if not domains:
        return []
    if issuers is None:
        got = type(raw("AUTH0_ISSUER")).__name__
        return [
            Error(
                f"AUTH0_ISSUER must be a string or a list of https URLs, got {got}.",
                hint="Give each issuer exactly as its tokens' iss spells it, e.g. https://login.example.com/.",
                id="authn.E005",
            )
        ]
    named = [("AUTH0_ISSUER", issuer, "authn.E005") for issuer in issuers]
    if len(domains) == 1:
        named.append(("AUTH0_JWKS_URL", conf.get().jwks_url, "authn.E004"))
    return [
        Error(
            f"{name} must be an https URL (plain http only for a loopback host), got {url!r}.",
            hint=f"Leave {name} unset to derive it from AUTH0_DOMAIN, or give an https URL.",
            id=error_id,
        )
        for name, url, error_id in named
        if url and not is_allowed_url(url)
    ]


def _issuers_setting() -> list[str] | None:
    """The entries of ``AUTH0_ISSUER``; ``None`` when it is neither a string nor a list."""
    value = raw("AUTH0_ISSUER")
    return as_list(value) if isinstance(value, (str, list, tuple)) else None


ISSUER_HINT = (
    "Give each domain's issuer exactly as its tokens' iss (and its discovery document) spell it, e.g. "
    "AUTH0_ISSUER=https://login.example.com for AUTH0_DOMAIN=...,login.example.com; a domain without one "
    "is the issuer https://{domain}/."
)


@register(Tags.security)
def check_issuer_names_a_domain(**_: Any) -> list[CheckMessage]:
    return [
        Error(
            f"AUTH0_ISSUER lists {issuer!r}, whose host and port are those of no AUTH0_DOMAIN entry.",
            hint=ISSUER_HINT,
            id="authn.E025",
        )
        for issuer in _issuers_by_domain().get(None, [])
    ]


@register(Tags.security)
def check_one_issuer_per_domain(**_: Any) -> list[CheckMessage]:
    return [
        Error(
            f"AUTH0_ISSUER lists two issuers for the domain {domain!r}: {given[0]!r} and {given[1]!r}.",
            hint=ISSUER_HINT,
            id="authn.E026",
        )
        for domain, given in _issuers_by_domain().items()
        if domain is not None and len(given) > 1
    ]


def _issuers_by_domain() -> dict[str | None, list[str]]:
    """The https ``AUTH0_ISSUER`` entries by the domain they name (``None``: none); E005 reports the others."""
    issuers, domains = _issuers_setting(), list(dict.fromkeys(conf.get().domains))
    if not issuers or not domains:
        return {}
    return issuers_by_domain(domains, [issuer for issuer in issuers if is_allowed_url(issuer)])


@register(Tags.security)
def check_tenant_without_domain(**_: Any) -> list[CheckMessage]:
    stray = [name for name in ("AUTH0_ISSUER", "AUTH0_JWKS_URL") if raw(name)]
    if stray and not trusts_a_tenant():
        return [
            Error(
                f"{' and '.join(stray)} set without AUTH0_DOMAIN: no tenant is trusted.",
                hint="Set AUTH0_DOMAIN to the tenant's domain as well.",
                id="authn.E006",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_issuer_trusted_in_production(**_: Any) -> list[CheckMessage]:
    if trusts_a_tenant() or settings.DEBUG:
        return []
    return [
        Error(
            "AUTH0_DOMAIN is not set and DEBUG is off: no issuer is trusted, every private call gets 401.",
            hint="Set AUTH0_DOMAIN and AUTH0_AUDIENCE to your Auth0 tenant and API identifier.",
            id="authn.E007",
        )
    ]


@register()
def check_setting_types(**_: Any) -> list[CheckMessage]:
    """Every setting of a checkable kind has a value of that kind (E008; E009 for names)."""
    errors: list[CheckMessage] = []
    for entry in SETTINGS:
        value = raw(entry.name)
        if conf.fits(entry.kind, value):
            continue
        errors.append(
            Error(
                f"{entry.name} must be {entry.kind.value}, got {value!r}.",
                hint=f"Remove the setting to use its default, {entry.default!r}.",
                id="authn.E009" if entry.kind is Kind.NAME else "authn.E008",
            )
        )
    return errors


@register()
def check_dev_issuer_key(**_: Any) -> list[CheckMessage]:
    if conf.get().trust_mode is not TrustMode.DEVELOPMENT:
        return []
    try:
        load_or_create_private_key(conf.get().dev_key_file)
    except (DevIssuerKeyError, OSError) as err:
        return [Error(str(err), hint="Delete the file or set AUTH0_DEV_KEY_FILE elsewhere.", id="authn.E010")]
    return []


@register(Tags.urls)
def check_scoped_views_declare_scopes(**_: Any) -> list[CheckMessage]:
    """Every routed view using ``HasScope`` (alone or composed) declares its scopes in a form it reads."""
    errors: list[CheckMessage] = []
    for view_class in _routed_view_classes(get_resolver().url_patterns):
        leaves = [leaf for entry in getattr(view_class, "permission_classes", ()) for leaf in permission_leaves(entry)]
        if not any(isinstance(leaf, type) and issubclass(leaf, HasScope) for leaf in leaves):
            continue
        try:
            view_declarations(view_class)
        except ImproperlyConfigured as err:
            hint = "See the view's required_scopes / required_alternate_scopes."
            errors.append(Error(str(err), hint=hint, obj=view_class, id="authn.E011"))
    return errors


def permission_leaves(entry: Any) -> Iterator[Any]:
    """The permission classes an entry of ``permission_classes`` is made of, through DRF's ``&``, ``|``, ``~``
    and authn's compositions alike."""
    operands = getattr(entry, "operands", None)
    if operands is None and hasattr(entry, "op1_class"):  # DRF's OperandHolder, SingleOperandHolder
        operands = (entry.op1_class, getattr(entry, "op2_class", None))
    if operands is None:
        yield entry
        return
    for operand in operands:
        if operand is not None:
            yield from permission_leaves(operand)


def _routed_view_classes(patterns: list[Any]) -> Iterator[type]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routed_view_classes(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and isinstance(view_class := getattr(pattern.callback, "cls", None), type):
            yield view_class


@register(Tags.security)
def check_overrides_with_several_domains(**_: Any) -> list[CheckMessage]:
    resolver = callable(conf.get().domain)
    errors: list[CheckMessage] = []
    if raw("AUTH0_JWKS_URL") and (resolver or len(conf.get().domains) > 1):
        errors.append(
            Error(
                "AUTH0_JWKS_URL can only be set with a single AUTH0_DOMAIN.",
                hint="With several domains each issuer's keys are at {issuer}.well-known/jwks.json, or wherever "
                "its discovery document says (AUTH0_OIDC_DISCOVERY); remove it.",
                id="authn.E012",
            )
        )
    if raw("AUTH0_ISSUER") and resolver:
        errors.append(
            Error(
                "AUTH0_ISSUER cannot be set with a resolver: each domain it returns is the issuer https://{domain}/.",
                hint="Remove AUTH0_ISSUER, or list the domains in AUTH0_DOMAIN, each with its issuer in AUTH0_ISSUER.",
                id="authn.E012",
            )
        )
    return errors


@register(Tags.security)
def check_dpop(**_: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    mode, algorithms = raw("AUTH0_DPOP"), raw("AUTH0_DPOP_ALGORITHMS")
    if mode not in tuple(DPoPMode):
        errors.append(
            Error(
                f"AUTH0_DPOP must be one of {', '.join(tuple(DPoPMode))}, got {mode!r}.",
                hint='"allowed" accepts Bearer and DPoP tokens, "required" only DPoP, "disabled" only Bearer.',
                id="authn.E013",
            )
        )
    if isinstance(algorithms, str) or not algorithms or not set(algorithms) <= KEY_TYPES.keys():
        errors.append(
            Error(
                f"AUTH0_DPOP_ALGORITHMS must be a non-empty list of asymmetric algorithms, got {algorithms!r}.",
                hint=f"Auth0 uses ES256. Supported: {', '.join(sorted(KEY_TYPES))}; never 'none' or HMAC.",
                id="authn.E014",
            )
        )
    return errors


@register(Tags.security, Tags.caches)
def check_replay_cache(**_: Any) -> list[CheckMessage]:
    if conf.get().dpop is DPoPMode.DISABLED:
        return []
    alias = conf.get().dpop_replay_cache
    return _replay_cache_problems(alias) if alias else _host_store_problems()


def _replay_cache_problems(alias: Any) -> list[CheckMessage]:
    hint = (
        "Leave AUTH0_DPOP_REPLAY_CACHE unset for authn's replay store (the workers of one host share it), "
        "or name a Redis cache (Django's RedisCache) that every host serving the API shares."
    )
    try:
        cache = caches[alias]
    except (InvalidCacheBackendError, ImproperlyConfigured, TypeError) as err:
        message = f"AUTH0_DPOP_REPLAY_CACHE names the cache {alias!r}, which cannot be used: {err}"
        return [Error(message, hint=hint, id="authn.E015")]
    backend = type(cache).__name__
    if isinstance(cache, DummyCache):
        message = f"The DPoP replay cache {alias!r} is a DummyCache: it remembers nothing, so proofs can be replayed."
        return [Error(message, hint=hint, id="authn.E015")]
    if isinstance(cache, CULLING_CACHES):
        message = (
            f"The DPoP replay cache {alias!r} is a {backend}, which drops entries before they expire once it "
            "holds MAX_ENTRIES (300 by default): a proof it dropped can be replayed."
        )
        return [Error(message, hint=hint, id="authn.E027")]
    return []


def _host_store_problems() -> list[CheckMessage]:
    file = raw("AUTH0_DPOP_REPLAY_FILE")
    if not isinstance(file, (str, os.PathLike)):
        problem = f"AUTH0_DPOP_REPLAY_FILE must be a file path, got {file!r}."
    else:
        store = host_store(file, conf.get().dpop_replay_max_entries)
        try:
            store.check()
        except (OSError, sqlite3.Error) as err:
            problem = f"The DPoP replay store {str(store.path)!r} cannot be used: {err}"
        else:
            return []
    hint = (
        "Set AUTH0_DPOP_REPLAY_FILE to a file in a directory this user may write (it is created readable by this "
        "user only), or set AUTH0_DPOP_REPLAY_CACHE to a Redis cache."
    )
    return [Error(problem, hint=hint, id="authn.E028")]


@register(Tags.security, Tags.caches, deploy=True)
def check_replay_store_is_shared(**_: Any) -> list[CheckMessage]:
    if conf.get().dpop is DPoPMode.DISABLED or conf.get().dpop_replay_cache:
        return []
    return [
        Warning(
            "The DPoP replay store is authn's file on this host: its workers share it, other hosts do not, so a "
            "proof replayed to another host goes undetected.",
            hint="When several hosts serve the API, set AUTH0_DPOP_REPLAY_CACHE to a cache they all share "
            "(Django's Redis cache backend).",
            id="authn.W001",
        )
    ]


@register(Tags.security)
def check_nonce_middleware(**_: Any) -> list[CheckMessage]:
    middleware = "authn.middleware.DPoPNonceMiddleware"
    if conf.get().dpop_nonce and middleware not in settings.MIDDLEWARE:
        return [
            Error(
                "AUTH0_DPOP_NONCE is on but the middleware that sends DPoP-Nonce headers is not installed.",
                hint=f"Add {middleware!r} to MIDDLEWARE.",
                id="authn.E016",
            )
        ]
    return []


@register(Tags.security)
def check_user_lookup_field(**_: Any) -> list[CheckMessage]:
    classes = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_AUTHENTICATION_CLASSES", ())
    if "authn.authentication.Auth0UserAuthentication" not in classes:
        return []
    try:
        lookup_field(get_user_model())
    except ImproperlyConfigured as err:
        return [Error(str(err), hint="Name a field declared with unique=True, e.g. 'username'.", id="authn.E017")]
    return []


@register(Tags.security, deploy=True)
def check_secret_key(**_: Any) -> list[CheckMessage]:
    try:
        configured = bool(getattr(settings, "SECRET_KEY", ""))
    except ImproperlyConfigured:  # what Django raises for an empty one
        configured = False
    if configured:
        return []
    return [
        Error(
            "SECRET_KEY is empty: Django cannot sign sessions or CSRF tokens, and DPoP nonces need it too.",
            hint="Set it to the same long random value on every worker and host, "
            'e.g. python -c "import secrets; print(secrets.token_urlsafe(50))".',
            id="authn.E018",
        )
    ]


@register(Tags.security)
def check_client_certificate_header(**_: Any) -> list[CheckMessage]:
    header = conf.get().mtls_client_cert_header
    if not header or (isinstance(header, str) and HEADER_NAME.fullmatch(header)):
        return []
    return [
        Error(
            f"AUTH0_MTLS_CLIENT_CERT_HEADER must be an HTTP header name, got {header!r}.",
            hint="For example X-Client-Cert, set by the TLS proxy from nginx's $ssl_client_escaped_cert.",
            id="authn.E019",
        )
    ]


@register(Tags.security)
def check_trusted_proxies(**_: Any) -> list[CheckMessage]:
    value = raw("AUTH0_MTLS_TRUSTED_PROXIES")
    entries = value.split(",") if isinstance(value, str) else value
    if not isinstance(entries, (list, tuple)) or not all(isinstance(entry, str) for entry in entries):
        return [
            _trusted_proxies_error(
                f"AUTH0_MTLS_TRUSTED_PROXIES must be a comma-separated string or a list of strings, got {value!r}."
            )
        ]
    return [
        _trusted_proxies_error(
            f"AUTH0_MTLS_TRUSTED_PROXIES must list IP addresses or CIDR networks: {entry!r} is neither."
        )
        for entry in as_list(entries)
        if entry != ANY_PEER and ip_network(entry) is None
    ]


def _trusted_proxies_error(message: str) -> Error:
    return Error(
        message,
        hint="List the addresses of the TLS proxies that set the client certificate header, e.g. "
        "'10.0.0.0/8,127.0.0.1' (a network without host bits); '*' trusts any peer.",
        id="authn.E031",
    )


@register(Tags.security)
def check_client_certificate_format(**_: Any) -> list[CheckMessage]:
    form = raw("AUTH0_MTLS_CLIENT_CERT_FORMAT")
    if isinstance(form, str) and form in DECODERS:
        return []
    return [
        Error(
            f"AUTH0_MTLS_CLIENT_CERT_FORMAT must be one of {', '.join(DECODERS)}, got {form!r}.",
            hint='"pem": URL-encoded PEM (nginx, AWS ALB); "der": base64 DER (HAProxy, Traefik); '
            '"xfcc": Envoy\'s X-Forwarded-Client-Cert.',
            id="authn.E032",
        )
    ]


@register(Tags.security)
def check_client_certificate_has_a_proxy(**_: Any) -> list[CheckMessage]:
    value = raw("AUTH0_MTLS_TRUSTED_PROXIES")
    if not conf.get().mtls_client_cert_header or not isinstance(value, (str, list, tuple)) or as_list(value):
        return []
    return [
        Error(
            "AUTH0_MTLS_CLIENT_CERT_HEADER is set but AUTH0_MTLS_TRUSTED_PROXIES is empty: the header is read "
            "from no peer, so every certificate-bound token is refused.",
            hint="List the addresses of the TLS proxies that set the header, or unset AUTH0_MTLS_CLIENT_CERT_HEADER.",
            id="authn.E033",
        )
    ]


@register()
def check_jwks_max_waiting(**_: Any) -> list[CheckMessage]:
    value = raw("AUTH0_JWKS_MAX_WAITING")
    if type(value) is int and value > 0:
        return []
    return [
        Error(
            f"AUTH0_JWKS_MAX_WAITING must be a positive integer, got {value!r}.",
            hint="It counts the requests that may wait on one issuer's key fetch at once, in each process; "
            f"remove the setting to use its default, {DEFAULTS['AUTH0_JWKS_MAX_WAITING']}.",
            id="authn.E023",
        )
    ]
