"""A fake clock shared with servers in other processes: the real time plus an offset the test moves by hand.

A server run with ``DJANGO_SETTINGS_MODULE=tests.fast_keys_settings`` and ``AUTHN_TEST_CLOCK_FILE`` set
reads the time of its trust layer (token expiry, key-cache TTLs, cooldowns) from that file's offset, so a
test calls ``advance()`` where it would otherwise sleep out a cooldown. Socket deadlines stay real.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.apps import AppConfig

CLOCK_FILE = "AUTHN_TEST_CLOCK_FILE"


class SharedClock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> float:
        return time.time() + self.offset()

    def offset(self) -> float:
        try:
            return float(self.path.read_text(encoding="ascii"))
        except (OSError, ValueError):  # not moved yet
            return 0.0

    def advance(self, seconds: float) -> None:
        """Move every reader's clock ``seconds`` ahead, at once (the file is replaced, never half written)."""
        moved = self.path.with_name(self.path.name + ".new")
        moved.write_text(repr(self.offset() + seconds), encoding="ascii")
        moved.replace(self.path)


class SharedClockConfig(AppConfig):
    """Installed by tests.fast_keys_settings: the trust layer reads a ``SharedClock`` when the file is named."""

    name = "tests"
    label = "shared_clock"

    def ready(self) -> None:
        from authn import runtime  # once the apps are loaded
        from authn.clock import Clock

        if path := os.environ.get(CLOCK_FILE):
            runtime.use_clock(Clock.of(SharedClock(Path(path))))
