"""This process's verifier and refusal log: built from the settings snapshot on first use, rebuilt when it
changes (``authn.conf``), and the one place that turns settings into constructor arguments.

``authn.verify(request)`` and ``authn.averify(request)`` are this module's.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from django.http import HttpRequest, HttpResponseBase

from authn import conf, replay
from authn.binding import SenderConstraints
from authn.challenges import Challenges
from authn.clock import Clock
from authn.conf import AuthnSettings, TrustMode
from authn.devissuer import DEV_AUDIENCE, DEV_ISSUER, DevIssuer
from authn.dpop import ProofValidator
from authn.errors import AuthnError
from authn.fetch import FetchLimits
from authn.issuers import (
    MAX_RESOLVED_ISSUERS,
    IssuerConfig,
    ResolvedIssuers,
    Resolver,
    configured_issuers,
    default_jwks_url,
)
from authn.jwks import KeyPolicy, KeySetCache
from authn.logs import RefusalLog
from authn.mtls import ClientCertificates
from authn.pipeline import Verifier
from authn.tokens import AccessToken, KeySource, TokenValidator


@dataclass(frozen=True)
class Runtime:
    settings: AuthnSettings
    clock: Clock
    verifier: Verifier
    refusal_log: RefusalLog


@dataclass(frozen=True)
class ExtraIssuer:
    """An issuer trusted besides the settings' (``authn.testing.TestIssuer``), for one audience of its own."""

    source: KeySource
    audience: str


_runtime: Runtime | None = None
_clock = Clock()
_extra: dict[str, ExtraIssuer] = {}
_lock = threading.Lock()


def current() -> Runtime:
    """The runtime of the current settings, built if they changed since."""
    settings = conf.get()
    found = _runtime
    if found is None or found.settings is not settings:
        with _lock:
            found = _runtime
            if found is None or found.settings is not settings:
                found = build(settings, _clock, dict(_extra))
                _install(found)
    return found


def verifier() -> Verifier:
    return current().verifier


def refusal_log() -> RefusalLog:
    return current().refusal_log


def verify(request: HttpRequest) -> AccessToken:
    """The request's validated access token (Bearer, DPoP, mTLS rules included); raises ``AuthnError``."""
    return verifier().verify(request)


async def averify(request: HttpRequest) -> AccessToken:
    """``verify``, awaitable: a key fetch or a replay-store round trip never blocks the event loop."""
    return await verifier().averify(request)


Response = TypeVar("Response", bound=HttpResponseBase)


def answer_refusal(error: AuthnError, request: HttpRequest, response: Response) -> Response:
    """``response`` (the refusal's status and body) with the refusal's headers, its line logged once: not
    again by Django's request logger."""
    for name, value in error.headers.items():
        response[name] = value
    refusal_log().record(error, request)
    response._has_been_logged = True  # type: ignore[attr-defined] # the flag django.utils.log.log_response checks
    return response


def use_clock(clock: Clock | None) -> None:
    """Make everything built from now on read ``clock`` (tests); ``None`` restores the real one."""
    global _clock  # noqa: PLW0603 - one clock per process, like the runtime
    _clock = clock or Clock()
    _install(None)


def trust_also(issuer: str, extra: ExtraIssuer | None) -> None:
    """Trust ``issuer`` besides the settings' issuers from now on; ``None``: no longer."""
    if extra is None:
        _extra.pop(issuer, None)
    else:
        _extra[issuer] = extra
    _install(None)


def reset() -> None:
    """Forget the runtime: key caches, the verified-token cache, the refusal log's window."""
    _install(None)


def dev_issuer() -> DevIssuer | None:
    """The embedded development issuer, when this process trusts it."""
    source = verifier().tokens.key_sources.get(DEV_ISSUER)
    return source if isinstance(source, DevIssuer) else None


def _install(runtime: Runtime | None) -> None:
    global _runtime  # noqa: PLW0603 - one runtime per process, by design
    _runtime = runtime


def build(settings: AuthnSettings, clock: Clock, extra: Mapping[str, ExtraIssuer] | None = None) -> Runtime:
    """Everything a request needs, from ``settings`` (and the issuers trusted besides them)."""
    extra = extra or {}
    challenges = Challenges(realm=settings.realm, dpop=settings.dpop, dpop_algorithms=settings.dpop_algorithms)
    verifier = Verifier(
        tokens=token_validator(settings, clock, extra),
        resolver=Resolver(settings.domain, also=frozenset(extra)) if callable(settings.domain) else None,
        constraints=sender_constraints(settings, clock),
        challenges=challenges,
        max_token_length=settings.max_token_length,
    )
    return Runtime(settings, clock, verifier, RefusalLog(rate=settings.refusal_log_rate, clock=clock.monotonic))


def token_validator(
    settings: AuthnSettings, clock: Clock, extra: Mapping[str, ExtraIssuer] | None = None
) -> TokenValidator:
    extra = extra or {}
    audiences = settings.audience
    if settings.trust_mode is TrustMode.DEVELOPMENT:
        audiences = audiences or (DEV_AUDIENCE,)
    return TokenValidator(
        issuers=trusted_key_sources(settings, clock, {issuer: e.source for issuer, e in extra.items()}),
        audiences=(*audiences, *(e.audience for e in extra.values())),
        organizations=settings.organizations,
        algorithms=settings.algorithms,
        leeway=settings.leeway_seconds,
        scope_claim=settings.scope_claim,
        permissions_claim=settings.permissions_claim,
        max_length=settings.max_token_length,
        cache_size=settings.token_cache_size,
        cache_bytes=settings.token_cache_bytes,
        clock=clock.wall,
    )


def trusted_key_sources(
    settings: AuthnSettings, clock: Clock, extra: Mapping[str, KeySource]
) -> ResolvedIssuers | dict[str, KeySource]:
    """Each trusted issuer's key source, as the trust mode says, and ``extra``'s."""
    mode = settings.trust_mode
    if mode is TrustMode.RESOLVER:
        return resolved_issuers(settings, clock, fixed=extra)
    sources: dict[str, KeySource] = {}
    if mode is TrustMode.ISSUERS:
        policy = key_policy(settings)
        sources = {config.issuer: key_set(config, policy, clock) for config in configured_issuers(settings)}
    elif mode is TrustMode.DEVELOPMENT:
        sources = {DEV_ISSUER: DevIssuer(settings.dev_key_file, DEV_ISSUER)}
    return {**sources, **extra}


def resolved_issuers(
    settings: AuthnSettings,
    clock: Clock,
    max_issuers: int = MAX_RESOLVED_ISSUERS,
    fixed: Mapping[str, KeySource] | None = None,
) -> ResolvedIssuers:
    """Key caches for the issuers a resolver names, made on first use (``fixed``'s ready-made)."""
    discovery, policy = settings.oidc_discovery, key_policy(settings)
    return ResolvedIssuers(
        lambda issuer: key_set(IssuerConfig(issuer, default_jwks_url(issuer, discovery=discovery)), policy, clock),
        max_issuers,
        fixed,
    )


def key_set(config: IssuerConfig, policy: KeyPolicy, clock: Clock) -> KeySetCache:
    return KeySetCache(config.issuer, jwks_url=config.jwks_url, policy=policy, clock=clock.monotonic)


def key_policy(settings: AuthnSettings) -> KeyPolicy:
    return KeyPolicy(
        algorithms=settings.algorithms,
        limits=FetchLimits(
            connect_timeout=settings.jwks_connect_timeout,
            read_timeout=settings.jwks_read_timeout,
            max_bytes=settings.jwks_max_bytes,
        ),
        ttl=settings.jwks_cache_seconds,
        cooldown=settings.jwks_cooldown_seconds,
        stale_for=settings.jwks_stale_seconds,
        max_waiting=settings.jwks_max_waiting,
        jwks_hosts=settings.jwks_hosts,
        max_keys=settings.jwks_max_keys,
        min_rsa_bits=settings.jwks_min_rsa_bits,
        max_rsa_bits=settings.jwks_max_rsa_bits,
    )


def sender_constraints(settings: AuthnSettings, clock: Clock) -> SenderConstraints:
    return SenderConstraints(
        dpop=settings.dpop,
        proofs=ProofValidator(
            algorithms=settings.dpop_algorithms,
            max_age=settings.dpop_max_age_seconds,
            leeway=settings.dpop_leeway_seconds,
            clock=clock.wall,
        ),
        replay_store=replay.store(
            settings.dpop_replay_cache,
            settings.dpop_replay_file,
            settings.dpop_replay_max_entries,
            clock.monotonic,
        ),
        # A proof is accepted until iat + max age; kept a little longer for the clocks of other hosts.
        replay_seconds=settings.dpop_max_age_seconds + settings.dpop_leeway_seconds,
        nonce_seconds=settings.dpop_nonce_seconds if settings.dpop_nonce else None,
        certificates=ClientCertificates(
            header=settings.mtls_client_cert_header,
            form=settings.mtls_client_cert_format,
            trusted_proxies=settings.mtls_trusted_proxies,
        ),
        clock=clock,
    )
