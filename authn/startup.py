"""What a serving process does before it serves: refuse to start misconfigured, then say what it trusts.

A project's ``wsgi.py`` or ``asgi.py`` imports ``authn.serving`` after making
its application (one line); this project's own servers call
``ready_to_serve(every_deploy_check=True)``, and ``gunicorn.conf.py`` and
authn's ``runserver`` call ``check_or_exit()`` before anything listens.

Which checks stop a server: every error the regular checks find (the ones
``runserver`` refuses too), and, with ``DEBUG`` off, authn's deploy checks.
Other apps' deploy-only checks are for ``manage.py check --deploy`` (in CI):
they stop a server only when asked, so a project that has not yet answered
Django's own deploy advice still starts once authn is configured right.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage

from authn import runtime, status

logger = logging.getLogger("authn")

# gunicorn's "worker failed to boot": it stops instead of starting the worker again. Not for runserver,
# whose reloader takes 3 to mean "restart me".
WORKER_BOOT_ERROR = 3


def check_or_exit(exit_code: int = 1, *, every_deploy_check: bool = True) -> None:
    """Run the system checks (the deploy ones too when DEBUG is off); on any error, one line each and exit."""
    deploy = not settings.DEBUG
    errors = serious(checks.run_checks(include_deployment_checks=deploy and every_deploy_check))
    if deploy and not every_deploy_check:  # authn's deploy checks only: the others are for check --deploy
        seen = {(error.id, error.msg) for error in errors}
        errors += [
            error
            for error in serious(checks.run_checks(include_deployment_checks=True))
            if (error.id or "").startswith("authn.") and (error.id, error.msg) not in seen
        ]
    if not errors:
        return
    for error in errors:
        hint = f" HINT: {error.hint}" if error.hint else ""
        sys.stderr.write(f"{error.id}: {error.msg}{hint}".replace("\n", " ") + "\n")
    sys.stderr.write(f"Refusing to serve: {len(errors)} system check error(s).\n")
    sys.stderr.flush()
    raise SystemExit(exit_code)


def serious(messages: list[CheckMessage]) -> list[CheckMessage]:
    return [message for message in messages if message.is_serious() and not message.is_silenced()]


def ready_to_serve(*, every_deploy_check: bool = False) -> None:
    """Exit (one line per error, no traceback) unless the checks pass; then log which issuers are trusted."""
    check_or_exit(WORKER_BOOT_ERROR, every_deploy_check=every_deploy_check)
    logger.info(status.describe(runtime.current()))
