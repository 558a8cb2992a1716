"""Log formatting for projects that want clean logs; light enough for gunicorn's master to import.

- ``JSONFormatter``: one JSON object per line (time, level, logger, message,
  a refusal's fields as keys, any traceback inside the object).
- ``ClientErrorWithoutTraceback``: a client's bad request (a bad Host header)
  is one line, not a traceback.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any


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
        return json.dumps(entry, ensure_ascii=False)


class ClientErrorWithoutTraceback(logging.Filter):
    """Drops the traceback Django attaches to ``django.security.*`` records (a bad Host header...).

    The message names the problem; the stack is Django's own and says nothing more.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security."):
            record.exc_info = None
            record.exc_text = None
        return True
