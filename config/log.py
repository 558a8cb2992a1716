"""Logging filters: a client's bad request is one line in the log, never a traceback."""

from __future__ import annotations

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """Drops the traceback Django attaches to ``django.security.*`` records (a bad Host header...).

    The message names the problem; the stack is Django's own and says nothing more.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security."):
            record.exc_info = None
            record.exc_text = None
        return True
