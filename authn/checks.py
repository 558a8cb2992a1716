"""System checks: a misconfigured tenant is a start-up error, not a 401 storm.

One rule per check, each with its own id; ids are never reused.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver

from authn.conf import auth0_settings
from authn.devissuer import DevIssuerKeyError, load_or_create_private_key
from authn.jwks import is_allowed_url
from authn.permissions import HasScope, declared_scopes
from authn.tokens import RSA_ALGORITHMS

POSITIVE_NUMBERS = (
    "AUTH0_JWKS_CACHE_SECONDS",
    "AUTH0_JWKS_CONNECT_TIMEOUT",
    "AUTH0_JWKS_READ_TIMEOUT",
    "AUTH0_JWKS_MAX_BYTES",
    "AUTH0_JWKS_MAX_KEYS",
    "AUTH0_MAX_TOKEN_LENGTH",
)
NON_NEGATIVE_NUMBERS = (
    "AUTH0_LEEWAY_SECONDS",
    "AUTH0_JWKS_COOLDOWN_SECONDS",
    "AUTH0_JWKS_STALE_SECONDS",
    "AUTH0_TOKEN_CACHE_SIZE",
)


@register(Tags.security)
def check_domain(**_: Any) -> list[CheckMessage]:
    domain = auth0_settings.domain
    if not domain:
        return []
    parts = urlsplit(f"//{domain}")
    if "://" in domain or parts.netloc != domain or parts.username is not None or not parts.hostname:
        return [
            Error(
                f"AUTH0_DOMAIN must be a bare host name, got {domain!r}.",
                hint="Set the tenant domain alone, e.g. AUTH0_DOMAIN=dev-abc.us.auth0.com (no https://, no path).",
                id="authn.E001",
            )
        ]
    return []


@register(Tags.security)
def check_audience(**_: Any) -> list[CheckMessage]:
    if auth0_settings.domain and not auth0_settings.audiences:
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
    algorithms = auth0_settings.algorithms
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
    if not auth0_settings.domain:
        return []
    return [
        Error(
            f"{name} must be an https URL (plain http only for a loopback host), got {url!r}.",
            hint=f"Leave {name} unset to derive it from AUTH0_DOMAIN, or give an https URL.",
            id=error_id,
        )
        for name, url, error_id in (
            ("AUTH0_JWKS_URL", auth0_settings.jwks_url, "authn.E004"),
            ("AUTH0_ISSUER", auth0_settings.issuer, "authn.E005"),
        )
        if not is_allowed_url(url)
    ]


@register(Tags.security)
def check_tenant_without_domain(**_: Any) -> list[CheckMessage]:
    stray = [name for name in ("AUTH0_ISSUER", "AUTH0_JWKS_URL") if getattr(settings, name, "")]
    if stray and not auth0_settings.domain:
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
    if auth0_settings.domain or settings.DEBUG:
        return []
    return [
        Error(
            "AUTH0_DOMAIN is not set and DEBUG is off: no issuer is trusted, every private call gets 401.",
            hint="Set AUTH0_DOMAIN and AUTH0_AUDIENCE to your Auth0 tenant and API identifier.",
            id="authn.E007",
        )
    ]


@register()
def check_numeric_settings(**_: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in POSITIVE_NUMBERS + NON_NEGATIVE_NUMBERS:
        value = getattr(auth0_settings, name.removeprefix("AUTH0_").lower())
        positive = name in POSITIVE_NUMBERS
        is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not is_number or value < 0 or (positive and value == 0):
            errors.append(
                Error(
                    f"{name} must be a {'positive' if positive else 'non-negative'} number, got {value!r}.",
                    hint="Remove the setting to use its default (see README, Configuration).",
                    id="authn.E008",
                )
            )
    return errors


@register()
def check_claim_names(**_: Any) -> list[CheckMessage]:
    names = (auth0_settings.scope_claim, auth0_settings.permissions_claim)
    if not all(isinstance(name, str) and name for name in names):
        return [
            Error(
                f"AUTH0_SCOPE_CLAIM and AUTH0_PERMISSIONS_CLAIM must be claim names, got {names!r}.",
                hint='Remove them to use the defaults "scope" and "permissions".',
                id="authn.E009",
            )
        ]
    return []


@register()
def check_dev_issuer_key(**_: Any) -> list[CheckMessage]:
    if not auth0_settings.dev_issuer_active:
        return []
    try:
        load_or_create_private_key(auth0_settings.dev_key_file)
    except (DevIssuerKeyError, OSError) as err:
        return [Error(str(err), hint="Delete the file or set AUTH0_DEV_KEY_FILE elsewhere.", id="authn.E010")]
    return []


@register(Tags.urls)
def check_scoped_views_declare_scopes(**_: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for view_class in _routed_view_classes(get_resolver().url_patterns):
        if not any(issubclass(p, HasScope) for p in getattr(view_class, "permission_classes", ())):
            continue
        try:
            declared_scopes(view_class)
        except ImproperlyConfigured as err:
            errors.append(Error(str(err), obj=view_class, id="authn.E011"))
    return errors


def _routed_view_classes(patterns: list[Any]) -> Iterator[type]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routed_view_classes(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and isinstance(getattr(pattern.callback, "cls", None), type):
            yield pattern.callback.cls
