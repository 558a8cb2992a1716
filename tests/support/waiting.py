"""Waiting, in real time, for what other processes and threads do: a server answering, a log line, a thread
reaching a lock. Nothing here stands in for time inside ``authn``: that is a fake clock (``FakeClock``
in-process, ``SharedClock`` for servers), moved by hand.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

POLL_INTERVAL = 0.02  # seconds between two looks
MARGIN = 2.0  # seconds allowed past a real deadline: thread scheduling on a loaded CI runner

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, timeout: float) -> T:
    """The first truthy value of ``condition()``, looked at until ``timeout`` seconds have passed; after that,
    its last value (falsy), for the caller to report."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    return value


def threads_inside(function: Callable[..., Any]) -> int:
    """How many threads are in a call of ``function`` right now, anywhere on their stacks: what a test waits
    on to know that threads have reached a lock."""
    count = 0
    for top in sys._current_frames().values():
        frame: Any = top
        while frame is not None and frame.f_code is not function.__code__:
            frame = frame.f_back
        count += frame is not None
    return count
