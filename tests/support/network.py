"""The process and the network: free loopback ports, and the connections and name lookups it makes."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_RECORDINGS: list[list[tuple[str, Any]]] = []
_hook_once = threading.Lock()  # taken by the first recording, never released: the audit hook goes in once


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the kernel just found free (nothing holds it once this returns)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _RECORDINGS and event in ("socket.connect", "socket.getaddrinfo"):
        target = args[1] if event == "socket.connect" else args[0]
        for recording in _RECORDINGS:
            recording.append((event, target))


@contextmanager
def outbound_connections() -> Iterator[list[tuple[str, Any]]]:
    """Every connect and name lookup the process makes meanwhile, as ``(event, address or host)``, observed
    through PEP 578 audit events."""
    if _hook_once.acquire(blocking=False):
        sys.addaudithook(_audit)  # audit hooks cannot be removed: installed once, it records only in here
    recording: list[tuple[str, Any]] = []
    _RECORDINGS.append(recording)
    try:
        yield recording
    finally:
        _RECORDINGS.remove(recording)


def connects(seen: list[tuple[str, Any]]) -> list[Any]:
    """The addresses connected to, of what ``outbound_connections`` recorded."""
    return [address for event, address in seen if event == "socket.connect"]
