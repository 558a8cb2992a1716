"""Prometheus counters of what authn decides, when ``prometheus_client`` is installed.

Without it every counter is a no-op. Under gunicorn with
``PROMETHEUS_MULTIPROC_DIR`` set (``gunicorn.conf.py`` does it), the values
live in files the workers share, so ``/metrics`` adds them up across workers.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # an optional dependency: pip install "drf-auth0-authn[metrics]"
        return None


prometheus_client = _optional("prometheus_client")


class _NoMetric:
    """Stands in for a metric when prometheus_client is not installed."""

    def labels(self, *_: Any, **__: Any) -> _NoMetric:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


def _counter(name: str, documentation: str, label: str) -> Any:
    if prometheus_client is None:
        return _NoMetric()
    return prometheus_client.Counter(name, documentation, [label])


REFUSALS = _counter("authn_refusals", "Requests refused by authn, by error code.", "code")
JWKS_FETCHES = _counter("authn_jwks_fetches", "Key set (and discovery) fetches, by outcome.", "outcome")
TOKEN_CACHE = _counter("authn_token_cache", "Verified-token cache lookups, by result.", "result")
TOKEN_CACHE_HITS = TOKEN_CACHE.labels("hit")
_refusal_counters: dict[str, Any] = {}
TOKEN_CACHE_MISSES = TOKEN_CACHE.labels("miss")
REQUEST_LATENCY = (
    prometheus_client.Histogram(
        "http_request_duration_seconds",
        "Time to answer a request, by endpoint (route name) and method.",
        ["endpoint", "method"],
    )
    if prometheus_client is not None
    else _NoMetric()
)


def refusals(code: str) -> Any:
    """The refusals counter of ``code`` (one of a few fixed codes), looked up once."""
    counter = _refusal_counters.get(code)
    if counter is None:
        counter = _refusal_counters[code] = REFUSALS.labels(code)
    return counter


def exposition() -> tuple[bytes, str]:
    """The current values in the Prometheus text format, and its content type."""
    if prometheus_client is None:
        raise RuntimeError("prometheus_client is not installed")
    registry: Any = prometheus_client.REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        importlib.import_module("prometheus_client.multiprocess").MultiProcessCollector(registry)
    return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST
