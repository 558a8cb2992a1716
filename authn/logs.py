"""The refusal log: one line per refused request, bounded, never the token.

At most the refusal log rate's lines per second per process; past that,
the first refusal of each kind not yet written in that second (its code and
what the token says: kid, iss, sub), as many again at most, so a flood cannot
hide a different attempt; then one summary line says how many were left out.
Values come from the request or a refused token: quoted, cut short, named by
their type when they are not strings. The line carries its fields as
``record.refusal`` too, for ``authn.logformat.JSONFormatter``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from django.http import HttpRequest

from authn import metrics
from authn.errors import AuthnError
from authn.header import scheme_of

logger = logging.getLogger("authn")

Kind = Callable[[], Hashable]
MoreFields = Callable[[], Mapping[str, Any]]
RECENT_TOKENS = 16  # refused tokens whose fields are remembered: a flood of one token is parsed once


class RateLimit:
    """At most ``rate`` events per one-second window (0: all); past that, the first of each kind not yet
    admitted in it, ``rate`` more at most; counts the ones refused."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._clock = rate, clock
        self._window_start = -1.0
        self._allowed = 0
        self._refused = 0
        self._kinds: set[Hashable] = set()  # admitted this window
        self._costly = 0  # kinds named past the rate at a cost, this window
        self._lock = threading.Lock()

    def admit(self, kind: Kind = lambda: None, *, costly: bool = False) -> tuple[bool, int]:
        """Whether this event may be logged, and how many were refused since the last admitted window.

        ``kind()`` names the event's kind (``None``: none). Past the rate it is called only while the window
        may admit more, and ``rate`` times at most when naming it is ``costly``: the rest of a flood costs
        nothing but counting.
        """
        rate = self._rate
        now = self._clock()
        with self._lock:
            refused_before = 0
            if not 0 <= now - self._window_start < 1:  # a new window (or a clock that was set back)
                self._window_start, self._allowed, self._costly = now, 0, 0
                refused_before, self._refused = self._refused, 0
                self._kinds.clear()
            if not rate:
                return True, refused_before
            if self._allowed < rate:
                self._kinds.add(kind())
            elif not self._first_of_its_kind(kind, costly, rate):
                self._refused += 1
                return False, refused_before
            self._allowed += 1
            return True, refused_before

    def _first_of_its_kind(self, kind: Kind, costly: bool, rate: float) -> bool:
        if self._allowed >= 2 * rate or (costly and self._costly >= rate):
            return False
        self._costly += costly
        named = kind()
        new = named is not None and named not in self._kinds
        self._kinds.add(named)
        return new


class RecentFields:
    """The loggable fields of the last few refused tokens, by their ``more_fields`` (equal for one token)."""

    def __init__(self, size: int = RECENT_TOKENS) -> None:
        self._size = size
        self._entries: OrderedDict[MoreFields, dict[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, more_fields: MoreFields) -> bool:
        with self._lock:
            return more_fields in self._entries

    def get(self, more_fields: MoreFields) -> dict[str, str]:
        with self._lock:
            found = self._entries.get(more_fields)
        if found is None:
            found = {name: loggable_text(value) for name, value in more_fields().items() if value is not None}
            with self._lock:
                self._entries[more_fields] = found
                if len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return found


class RefusalLog:
    """One line per refused request (INFO, WARNING for 5xx), at most ``rate`` a second past which a sample."""

    def __init__(self, *, rate: float, clock: Callable[[], float]) -> None:
        self._limit = RateLimit(rate, clock)
        self._recent = RecentFields()

    def record(self, error: AuthnError, request: HttpRequest) -> None:
        """The line for ``error``, refusing ``request``: its path and scheme, and what the token says."""
        authorization = request.META.get("HTTP_AUTHORIZATION")
        fields = {"path": request.path, "scheme": scheme_of(authorization) if authorization else None}
        self.write(error.status, error.code, fields, error.log_fields)

    def write(self, status: int, code: str, fields: Mapping[str, Any], more_fields: MoreFields) -> None:
        """``more_fields`` is called if the line is written, or past the rate to tell its kind, unless it is
        among the recent ones (``RateLimit`` bounds how often)."""
        metrics.refusals(code).inc()
        recent = self._recent
        admitted, suppressed = self._limit.admit(
            lambda: (code, *recent.get(more_fields).items()), costly=more_fields not in recent
        )
        if suppressed:
            logger.warning("refusals not logged: %d in the last window (AUTH0_REFUSAL_LOG_RATE)", suppressed)
        if not admitted:
            return
        # Values from the request or the token: cut short, and quoted in the message so they cannot forge lines.
        values = {name: loggable_text(value) for name, value in fields.items() if value is not None}
        values.update(recent.get(more_fields))
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
