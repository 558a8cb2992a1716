"""Clocks tests move by hand: ``FakeClock`` in this process, ``SharedClock`` for servers in other processes.

``FakeClock`` is what the ``clock`` and ``fake_time`` fixtures hand out. ``SharedClock`` is the real time plus
an offset the test moves: a server run with ``DJANGO_SETTINGS_MODULE=tests.fast_keys_settings`` and
``AUTHN_TEST_CLOCK_FILE`` set (``tests.support.servers.shared_clock_env``) reads the time of its trust layer
(token expiry, key-cache TTLs, cooldowns) from that file's offset, so a test calls ``advance()`` where it
would otherwise sleep out a cooldown. Socket deadlines stay real.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.apps import AppConfig

CLOCK_FILE = "AUTHN_TEST_CLOCK_FILE"


class FakeClock:
    """A clock tests move by hand: ``clock()`` reads it, ``clock.advance(seconds)`` moves it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SharedClock:
    """The real time plus the offset written in ``path``: every process reading the file shares it."""

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
