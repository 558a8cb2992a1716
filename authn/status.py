"""What this process trusts, said two ways: one line for the start-up log, and each issuer's readiness."""

from __future__ import annotations

from authn.conf import TrustMode
from authn.devissuer import DEV_ISSUER, DevIssuer
from authn.jwks import KeySetCache
from authn.runtime import Runtime


def readiness(runtime: Runtime) -> dict[str, str] | None:
    """Each trusted issuer's state, ``"ready"`` when it has usable signing keys (fetched if need be).

    ``None`` when nothing is trusted; with a resolver, the issuers it has named so far.
    """
    if runtime.settings.trust_mode is TrustMode.NONE:
        return None
    sources = runtime.verifier.tokens.key_sources
    states = {}
    for issuer in sources:
        key_source = sources.get(issuer)  # a resolver's issuer dropped meanwhile is not made again
        if key_source is not None:
            states[issuer] = "ready" if key_source.ready() else "no usable signing keys"
    return states


def describe(runtime: Runtime) -> str:
    """One line for the start-up log: which issuers are trusted, and for which audience."""
    tokens = runtime.verifier.tokens
    audiences = ", ".join(sorted(tokens.audiences))
    mode, sources = runtime.settings.trust_mode, tokens.key_sources
    if mode is TrustMode.RESOLVER:
        return f"Trusting the issuers the domain resolver names for each request, for audience {audiences}"
    if mode is TrustMode.NONE:
        return "Trusting NO issuer: no domain is set and DEBUG is off, so every request needing a token gets 401"
    dev = sources.get(DEV_ISSUER)
    if mode is TrustMode.DEVELOPMENT and isinstance(dev, DevIssuer):
        return (
            f"Trusting the embedded DEVELOPMENT issuer {DEV_ISSUER} for audience {audiences} "
            f"(DEBUG is on and no domain is set; key in {dev.key_file}). "
            "Mint a token with: python manage.py mint_token"
        )
    described = "; ".join(
        f"{issuer} (keys from {source.url})" if isinstance(source, KeySetCache) else issuer
        for issuer, source in sources.items()
    )
    noun = "issuer" if len(sources) == 1 else f"{len(sources)} issuers"
    return f"Trusting Auth0 {noun} {described} for audience {audiences}"
