"""DPoP proof replay detection: each ``jti`` is accepted once per key, in every process that shares the cache.

The ``AUTH0_DPOP_REPLAY_CACHE`` alias of Django's cache framework remembers
each proof until it could no longer be accepted anyway. ``cache.add`` is
atomic on Redis (``SET NX``), so two workers or hosts racing with the same
proof cannot both win. When the cache cannot be reached, the request is
refused (503): never an unchecked acceptance.
"""

from __future__ import annotations

import hashlib
import math

from django.core.cache import caches

from authn.dpop import Proof
from authn.errors import InvalidProof, ReplayCacheUnavailable

RETRY_AFTER = 5  # seconds a client waits when the replay cache is down
KEY_PREFIX = "authn:dpop:jti:"


def remember(proof: Proof, cache_alias: str, *, expires_at: float, now: float) -> None:
    """Record ``proof``'s ``jti`` in that cache until ``expires_at``; ``InvalidProof`` if it was recorded before."""
    timeout = max(1, math.ceil(expires_at - now))
    key = KEY_PREFIX + hashlib.sha256(f"{proof.jkt}\x00{proof.jti}".encode()).hexdigest()
    try:
        added = caches[cache_alias].add(key, 1, timeout)
    except Exception as err:  # whatever the backend raises: fail closed, never accept unchecked
        error = ReplayCacheUnavailable(RETRY_AFTER)
        reason = f"{type(err).__module__}.{type(err).__name__}"  # not its message: it may hold a URL's password
        error.log_fields = lambda: {"reason": reason}
        raise error from err
    if not added:
        raise InvalidProof("DPoP proof has been used before.")
