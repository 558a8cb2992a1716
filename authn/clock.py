"""The two times authn reads: wall time for token and proof times, monotonic time for cache ages."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    """Handed to every part that reads a time; a test hands one of its own (``Clock.of(fake)``)."""

    wall: Callable[[], float] = time.time  # expiry, not-before, a proof's iat, nonces
    monotonic: Callable[[], float] = time.monotonic  # key-set freshness, cooldowns, log windows

    @classmethod
    def of(cls, now: Callable[[], float]) -> Clock:
        """One clock read for both: a test's fake moves them together."""
        return cls(wall=now, monotonic=now)
