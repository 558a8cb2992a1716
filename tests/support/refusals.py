"""The refusal log as tests read it: the one line authn writes for a refused request."""

from __future__ import annotations

import logging

import pytest

from tests.support.tenant import ISSUER, KID


def refusal_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage().startswith("refused")]


def assert_logged_once(
    caplog: pytest.LogCaptureFixture, *, level: int, code: str, path: str, token: str, prefix: str = "unverified_"
) -> None:
    """One refusal line at ``level`` naming ``code``, ``path`` and the kid, iss and sub of ``token`` (a
    ``make_token`` one; ``prefix`` is ``unverified_`` while its signature is not checked); no second line from
    Django's request logger, and the token nowhere."""
    refusals = refusal_records(caplog)
    assert [record.levelno for record in refusals] == [level]
    message = refusals[0].getMessage()
    assert f"code={code} " in message
    assert f"path='{path}'" in message
    for name, value in (("kid", KID), ("iss", ISSUER), ("sub", "auth0|user-1")):
        assert f" {prefix}{name}='{value}'" in message
    assert [record for record in caplog.records if record.name == "django.request"] == []
    assert token.split(".")[2] not in caplog.text
