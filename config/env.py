"""Environment variables, with a ``.env`` file as fallback: the only input to settings."""

from __future__ import annotations

import os
import re
from pathlib import Path

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=value`` lines; ``#`` comments, ``export`` and matching quotes allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


class Environment:
    """Looks a name up in the process environment first, then in the ``.env`` file."""

    def __init__(self, dotenv: Path) -> None:
        self._dotenv = read_dotenv(dotenv)

    def str(self, name: str, default: str = "") -> str:
        value = os.environ.get(name, self._dotenv.get(name))
        return default if value is None else value.strip()

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.str(name).lower()
        if not value:
            return default
        return value in ("1", "true", "yes", "on")

    def list(self, name: str, default: str = "") -> list[str]:
        return [item.strip() for item in self.str(name, default).split(",") if item.strip()]
