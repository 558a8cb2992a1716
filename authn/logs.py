"""The refusal log: one line per refused request, bounded, never the token.

At most ``AUTH0_REFUSAL_LOG_RATE`` lines per second per process; past that,
one summary line says how many were left out. Values come from the request
or a refused token: quoted, cut short, named by their type when they are not
strings. The line carries its fields as ``record.refusal`` too, for
``authn.logformat.JSONFormatter``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from authn import metrics, trust

logger = logging.getLogger("authn")


class RateLimit:
    """At most ``rate()`` events per one-second window; counts the ones refused."""

    def __init__(self, rate: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._clock = rate, clock
        self._window_start = -1.0
        self._allowed = 0
        self._refused = 0
        self._lock = threading.Lock()

    def admit(self) -> tuple[bool, int]:
        """Whether this event may be logged, and how many were refused since the last admitted window."""
        rate = self._rate()
        now = self._clock()
        with self._lock:
            refused_before = 0
            if not 0 <= now - self._window_start < 1:  # a new window (or a clock that was set back)
                self._window_start, self._allowed = now, 0
                refused_before, self._refused = self._refused, 0
            if rate and self._allowed >= rate:
                self._refused += 1
                return False, refused_before
            self._allowed += 1
            return True, refused_before


_limit = RateLimit(lambda: trust.request_policy().refusal_log_rate, trust.monotonic_clock)


def log_refusal(
    status: int, code: str, fields: Mapping[str, Any], more_fields: Callable[[], Mapping[str, Any]]
) -> None:
    """One line for a refused request (INFO, WARNING for 5xx); ``more_fields`` is called only if it is written."""
    metrics.refusals(code).inc()
    admitted, suppressed = _limit.admit()
    if suppressed:
        logger.warning("refusals not logged: %d in the last window (AUTH0_REFUSAL_LOG_RATE)", suppressed)
    if not admitted:
        return
    # Values from the request or the token: cut short, and quoted in the message so they cannot forge lines.
    values = {name: loggable_text(value) for name, value in {**fields, **more_fields()}.items() if value is not None}
    logger.log(
        logging.WARNING if status >= 500 else logging.INFO,
        "refused status=%d code=%s %s",
        status,
        code,
        " ".join(f"{name}={value!r}" for name, value in values.items()),
        extra={"refusal": {"status": status, "code": code, **values}},
    )


def loggable_text(value: Any) -> str:
    """A string cut short; anything else (attacker JSON) named by its type only, never repr()."""
    return value[:100] if isinstance(value, str) else f"<{type(value).__name__}>"
