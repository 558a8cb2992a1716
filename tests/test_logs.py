"""The refusal log: bounded under a flood, honest about unverified claims, JSON on request."""

from __future__ import annotations

import base64
import json
import logging
import sys

import pytest

from authn.logformat import JSONFormatter, PlainFormatter
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


# -- what a client writes into a line: escaped, in either format ---------------------------------

# Each character a client must not write raw into a log line, and the escape a reader sees instead.
UNSAFE_CHARACTERS = [
    pytest.param("\x00", "\\x00", id="nul"),
    pytest.param("\t", "\\x09", id="tab"),
    pytest.param("\n", "\\x0a", id="line-feed"),
    pytest.param("\r", "\\x0d", id="carriage-return"),
    pytest.param("\x1b", "\\x1b", id="escape"),
    pytest.param("\x7f", "\\x7f", id="delete"),
    pytest.param("\x85", "\\x85", id="next-line"),
    pytest.param("\x9b", "\\x9b", id="c1-control-sequence-introducer"),
    pytest.param("\u2028", "\\u2028", id="line-separator"),
    pytest.param("\u2029", "\\u2029", id="paragraph-separator"),
    pytest.param("\u061c", "\\u061c", id="arabic-letter-mark"),
    pytest.param("\u200e", "\\u200e", id="left-to-right-mark"),
    pytest.param("\u200f", "\\u200f", id="right-to-left-mark"),
    pytest.param("\u202a", "\\u202a", id="left-to-right-embedding"),
    pytest.param("\u202e", "\\u202e", id="right-to-left-override"),
    pytest.param("\u2066", "\\u2066", id="left-to-right-isolate"),
    pytest.param("\u2069", "\\u2069", id="pop-directional-isolate"),
]


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def plain_line(made: logging.LogRecord) -> str:
    return PlainFormatter("%(levelname)s %(name)s %(message)s").format(made)


@pytest.mark.parametrize(("character", "escape"), UNSAFE_CHARACTERS)
def test_plain_formatter_writes_a_client_character_as_a_visible_escape(character, escape):
    line = plain_line(record('"GET /a%sb HTTP/1.1" 404', character))
    assert line == f'INFO gunicorn.access "GET /a{escape}b HTTP/1.1" 404'


@pytest.mark.parametrize(("character", "_escape"), UNSAFE_CHARACTERS)
def test_json_formatter_escapes_a_client_character_and_keeps_the_text(character, _escape):
    line = JSONFormatter().format(record("path=%s", f"/a{character}b", refusal={"unverified_sub": f"x{character}"}))
    assert character not in line
    entry = json.loads(line)
    assert (entry["message"], entry["unverified_sub"]) == (f"path=/a{character}b", f"x{character}")


def test_formatters_leave_other_text_as_it_is():
    text = "sub=caf\u00e9 \u65e5\u672c \u05e9\u05dc\u05d5\u05dd \\x1b 'quoted'"
    assert plain_line(record(text)) == f"INFO gunicorn.access {text}"
    assert f'"message": "{text}"'.replace("\\", "\\\\") in JSONFormatter().format(record(text))


def raised(message: str) -> logging.LogRecord:
    try:
        raise ValueError(message)
    except ValueError:
        return logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())


def test_plain_formatter_keeps_a_traceback_on_its_lines_and_escapes_what_it_quotes():
    lines = plain_line(raised("bad \x1b[31m\u2028 value\nsecond")).split("\n")
    assert lines[0] == "ERROR x failed"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-2:] == ["ValueError: bad \\x1b[31m\\u2028 value", "second"]


def test_json_formatter_escapes_what_a_traceback_quotes():
    line = JSONFormatter().format(raised("bad \u2028\u202e value"))
    assert "\u2028" not in line
    assert "\u202e" not in line
    assert json.loads(line)["traceback"].endswith("ValueError: bad \u2028\u202e value")
