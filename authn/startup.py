"""What a serving process does before it serves: refuse to start misconfigured, then say what it trusts.

``config/wsgi.py`` and ``config/asgi.py`` call ``ready_to_serve()``;
``gunicorn.conf.py`` and authn's ``runserver`` call ``check_or_exit()``
before anything listens.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core import checks

from authn import runtime, status

logger = logging.getLogger("authn")

# gunicorn's "worker failed to boot": it stops instead of starting the worker again. Not for runserver,
# whose reloader takes 3 to mean "restart me".
WORKER_BOOT_ERROR = 3


def check_or_exit(status: int = 1) -> None:
    """Run the system checks, the deploy ones too when DEBUG is off; on any error, one line each and exit."""
    messages = checks.run_checks(include_deployment_checks=not settings.DEBUG)
    errors = [message for message in messages if message.is_serious() and not message.is_silenced()]
    if not errors:
        return
    for error in errors:
        hint = f" HINT: {error.hint}" if error.hint else ""
        sys.stderr.write(f"{error.id}: {error.msg}{hint}".replace("\n", " ") + "\n")
    sys.stderr.write(f"Refusing to serve: {len(errors)} system check error(s).\n")
    sys.stderr.flush()
    raise SystemExit(status)


def ready_to_serve() -> None:
    check_or_exit(WORKER_BOOT_ERROR)
    logger.info(status.describe(runtime.current()))
