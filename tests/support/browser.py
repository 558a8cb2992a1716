"""Debian's headless Chromium, for the tests that drive a real browser (Playwright, no browser download)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_or_skip() -> str:
    """The Chromium to drive; skip (fail under ``REQUIRE_BROWSER=1``) when it or Playwright is missing."""
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed: pip install -r requirements-dev.txt"
    if reason is None and not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        reason = f"Chromium not found at {executable}: apt-get install chromium (or set CHROMIUM=/path/to/chromium)"
    if reason is not None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return executable
