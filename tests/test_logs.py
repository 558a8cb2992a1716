"""The refusal log: bounded under a flood, honest about unverified claims, JSON on request."""

from __future__ import annotations

import base64
import json
import logging

from authn.logformat import JSONFormatter
from authn.logs import RateLimit
from tests.conftest import FakeClock


def refusal_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "authn" and r.getMessage().startswith("refused")]


def test_rate_limit_admits_the_rate_then_counts_the_rest_until_the_next_window():
    clock = FakeClock(100.0)
    limit = RateLimit(lambda: 3, clock)
    assert [limit.admit() for _ in range(5)] == [(True, 0), (True, 0), (True, 0), (False, 0), (False, 0)]
    clock.advance(1)
    assert limit.admit() == (True, 2)  # the new window reports what the last one left out
    assert limit.admit() == (True, 0)


def test_rate_limit_zero_means_every_line():
    limit = RateLimit(lambda: 0, FakeClock(0.0))
    assert all(limit.admit() == (True, 0) for _ in range(100))


def test_flood_of_bad_tokens_writes_at_most_the_rate_then_one_summary(call, tenant, settings, caplog, fake_time):
    settings.AUTH0_REFUSAL_LOG_RATE = 5
    with caplog.at_level(logging.INFO, logger="authn"):
        fake_time.advance(5)  # a fresh window, whatever earlier tests logged
        for index in range(40):
            assert call("/api/private", authorization=f"Bearer garbage{index}").status_code == 401
        assert len(refusal_lines(caplog)) <= 5
        fake_time.advance(1)
        call("/api/private", authorization="Bearer garbage-after")
    summaries = [r for r in caplog.records if "refusals not logged" in r.getMessage()]
    assert len(summaries) == 1
    assert "35 in the last window" in summaries[0].getMessage()
    assert [r for r in caplog.records if r.name == "django.request"] == []


def test_refused_token_claims_are_logged_as_unverified(call, tenant, make_token, caplog):
    with caplog.at_level(logging.INFO, logger="authn"):
        call("/api/private", token=make_token(key=tenant_foreign_key(), sub="auth0|mallory"))
    [line] = refusal_lines(caplog)
    message = line.getMessage()
    assert "unverified_sub='auth0|mallory'" in message
    assert " sub=" not in message


def tenant_foreign_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def hand_made_token(claims: dict) -> str:
    """Header and payload as given, a signature no key made: the claims are whatever a client says."""
    header = {"alg": "RS256", "kid": "key-1"}
    segments = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in (header, claims)]
    return ".".join([*segments, "c2lnbmF0dXJl"])


def test_log_values_cannot_forge_lines_or_dump_attacker_json(call, tenant, caplog):
    token = hand_made_token({"sub": "x\nrefused status=200 code=ok", "iss": {"nested": ["a" * 500]}})
    with caplog.at_level(logging.INFO, logger="authn"):
        call("/api/private", token=token)
    [line] = refusal_lines(caplog)
    message = line.getMessage()
    assert "\n" not in message
    assert "unverified_iss='<tuple>'" in message  # an object, named by its type only
    assert "a" * 101 not in message


def test_json_formatter_writes_one_object_per_line_with_the_refusal_fields(call, tenant, caplog):
    with caplog.at_level(logging.INFO, logger="authn"):
        call("/api/private", authorization="Bearer not.a.token")
    [line] = refusal_lines(caplog)
    entry = json.loads(JSONFormatter().format(line))
    assert entry["level"] == "INFO"
    assert entry["logger"] == "authn"
    assert entry["message"].startswith("refused status=401")
    assert (entry["status"], entry["code"], entry["path"], entry["scheme"]) == (
        401,
        "invalid_header",
        "/api/private",
        "bearer",
    )
    assert "T" in entry["time"]


def test_json_formatter_keeps_a_traceback_inside_the_object():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("here",), exc_info=__import__("sys").exc_info()
        )
    line = JSONFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed here"
    assert "ValueError: boom" in entry["traceback"]
