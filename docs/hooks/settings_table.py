"""mkdocs hook: the configuration page's settings table, generated from ``authn/defaults.py``.

The page holds the marker ``<!-- authn-settings -->``; each build replaces it with one row per
setting, so the documentation cannot drift from the table the code reads.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: authn importable

from authn.defaults import SETTINGS, Setting  # after the path it is found on

MARKER = "<!-- authn-settings -->"


def settings_table() -> str:
    """The Markdown table of every ``AUTH0_*`` setting: name, meaning, default."""
    rows = [f"| `{s.name}` | {s.meaning} | {default_text(s)} |" for s in SETTINGS]
    return "\n".join(["| setting | meaning | default |", "| --- | --- | --- |", *rows])


def default_text(setting: Setting) -> str:
    value = setting.default
    if value in ("", None):
        return "unset"
    if isinstance(value, bool):
        return f"`{value}`"
    if isinstance(value, (list, tuple)):
        return "`[" + ", ".join(f'"{item}"' for item in value) + "]`"
    return f'`"{value}"`' if isinstance(value, str) else f"`{value}`"


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, settings_table())
