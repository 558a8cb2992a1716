"""This checkout: its root, and the files a fresh clone of it would hold (with the change not yet committed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def files() -> list[Path]:
    """The files git tracks, and those it does not ignore; skips the test outside a git checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: git says which files are the repository's")
    return [path for path in (ROOT / name for name in listed.stdout.splitlines()) if path.is_file()]
