"""authn's parts built as the settings' defaults would build them, with what a test changes."""

from __future__ import annotations

import dataclasses
from typing import Any

from authn import conf, runtime
from authn.dpop import ProofValidator
from authn.fetch import FetchLimits
from authn.jwks import KeyPolicy
from authn.tokens import TokenValidator

DEFAULT_SETTINGS = conf.read(object())  # every setting at its default, debug off

LIMITS = FetchLimits(connect_timeout=2.0, read_timeout=2.0, max_bytes=64 * 1024)  # a tenant that answers
# A stalled tenant (``tests.support.tenant.stall``): the whole fetch ends after 0.35 s. Over TLS the handshake
# (bounded by the connect timeout) gets more room, so that the request does reach the tenant on a loaded runner.
STALL_LIMITS = FetchLimits(connect_timeout=0.1, read_timeout=0.25, max_bytes=64 * 1024)
TLS_STALL_LIMITS = dataclasses.replace(STALL_LIMITS, connect_timeout=0.3)


def key_policy(**changes: Any) -> KeyPolicy:
    return dataclasses.replace(runtime.key_policy(DEFAULT_SETTINGS), **changes)


def token_validator(**options: Any) -> TokenValidator:
    """A validator of ``options`` (``issuers``, ``audiences``...), every other argument at its default."""
    s = DEFAULT_SETTINGS
    defaults = {
        "algorithms": s.algorithms,
        "leeway": s.leeway_seconds,
        "scope_claim": s.scope_claim,
        "permissions_claim": s.permissions_claim,
        "max_length": s.max_token_length,
        "cache_size": s.token_cache_size,
        "cache_bytes": s.token_cache_bytes,
    }
    return TokenValidator(**{**defaults, **options})


def proof_validator(**options: Any) -> ProofValidator:
    s = DEFAULT_SETTINGS
    defaults = {"algorithms": s.dpop_algorithms, "max_age": s.dpop_max_age_seconds, "leeway": s.dpop_leeway_seconds}
    return ProofValidator(**{**defaults, **options})
