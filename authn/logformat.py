"""Log formatting for projects that want clean logs; light enough for gunicorn's master to import.

Both formatters write what a client may have put into a record (a path, a
header, a token's claims) so that it can neither start a line of its own nor
disguise one: control characters (C0, DEL, C1), the Unicode line separators
and the bidirectional formatting characters are written as escapes.

- ``PlainFormatter``: ``logging.Formatter`` whose records each take one line,
  but for a traceback.
- ``JSONFormatter``: one JSON object per line (time, level, logger, message,
  a refusal's fields as keys, any traceback inside the object).
- ``ClientErrorWithoutTraceback``: a client's bad request (a bad Host header)
  is one line, not a traceback.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from typing import Any

# Characters that end a line, move the cursor, recolour a terminal or reorder the text around them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _visible_escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"  # JSON's own escape: the object still reads back the same text


def escaped(text: str) -> str:
    """``text`` with each unsafe character written as Python writes it in ``repr()``: ``\\x1b``, ``\\u2028``."""
    return _UNSAFE.sub(_visible_escape, text)


class PlainFormatter(logging.Formatter):
    """``logging.Formatter``, each record on one line: unsafe characters escaped; a traceback keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escaped(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return _escaped_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _escaped_lines(super().formatStack(stack_info))


def _escaped_lines(text: str) -> str:
    """A traceback, which clients do not write, keeps its line breaks; what it quotes is escaped."""
    return "\n".join(map(escaped, text.split("\n")))


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, a refusal's fields, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in getattr(record, "refusal", {}).items():
            entry.setdefault(name, value)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        # json.dumps escapes C0 controls only; the others can only be inside a string, where \u escapes them.
        return _UNSAFE.sub(_json_escape, json.dumps(entry, ensure_ascii=False))


class ClientErrorWithoutTraceback(logging.Filter):
    """Drops the traceback Django attaches to ``django.security.*`` records (a bad Host header...).

    The message names the problem; the stack is Django's own and says nothing more.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security."):
            record.exc_info = None
            record.exc_text = None
        return True
