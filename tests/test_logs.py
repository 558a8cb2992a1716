"""The refusal log: bounded under a flood, honest about unverified claims, JSON on request."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Callable

import pytest

from authn import runtime
from authn.logformat import JSONFormatter, PlainFormatter
from authn.logs import RateLimit
from tests.support.clock import FakeClock
from tests.support.tenant import ISSUER
from tests.support.tokens import hand_made_token


def refusal_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "authn" and r.getMessage().startswith("refused")]


def test_rate_limit_admits_the_rate_then_counts_the_rest_until_the_next_window():
    clock = FakeClock(100.0)
    limit = RateLimit(3, clock)
    assert [limit.admit() for _ in range(5)] == [(True, 0), (True, 0), (True, 0), (False, 0), (False, 0)]
    clock.advance(1)
    assert limit.admit() == (True, 2)  # the new window reports what the last one left out
    assert limit.admit() == (True, 0)


def test_rate_limit_zero_means_every_line():
    limit = RateLimit(0, FakeClock(0.0))
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


def counting(kind: str, calls: list[str]) -> Callable[[], str]:
    def named() -> str:
        calls.append(kind)
        return kind

    return named


def test_rate_limit_past_the_rate_admits_the_first_of_each_kind_up_to_the_rate_again():
    clock, calls = FakeClock(100.0), []
    limit = RateLimit(2, clock)
    junk, other, third, fourth = (counting(kind, calls) for kind in ("junk", "other", "third", "fourth"))
    assert [limit.admit(junk)[0] for _ in range(52)] == [True, True] + [False] * 50  # junk was admitted already
    assert limit.admit(other)[0]
    assert limit.admit(third)[0]
    assert not limit.admit(fourth)[0]  # two kinds past the rate: this window's budget is spent
    assert calls == ["junk"] * 52 + ["other", "third"]  # and no kind is asked once it is
    clock.advance(1)
    assert limit.admit(fourth) == (True, 51)  # the summary counts only what was left out


def test_rate_limit_past_the_rate_an_unknown_kind_is_left_out():
    limit = RateLimit(1, FakeClock(0.0))
    assert limit.admit(lambda: None)[0]
    assert [limit.admit(lambda: None)[0] for _ in range(3)] == [False] * 3


class Fields:
    """A refused token's fields as the refusal log is handed them: equal for the same token (as authn.tokens
    makes them), worked out only when called. Counts its calls."""

    calls = 0

    def __init__(self, token: str, sub: str) -> None:
        self.token, self.sub = token, sub

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fields) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __call__(self) -> dict[str, str]:
        Fields.calls += 1
        return {"unverified_sub": self.sub}


def window_lines(caplog, clock: FakeClock, windows: int, per_window: int, send: Callable[[int, int], None]):
    """The refusal lines written in each of ``windows`` seconds of ``clock`` while ``send(window, index)`` is
    called ``per_window`` times in each, spread evenly over it."""
    clock.advance(5)  # a fresh window, whatever earlier tests logged
    lines, start = [], clock.now
    for window in range(windows):
        before = len(refusal_lines(caplog))
        for index in range(per_window):
            clock.now = start + window + index / per_window
            send(window, index)
        lines.append([record.getMessage() for record in refusal_lines(caplog)[before:]])
    return lines


def refuse(token: str, sub: str) -> None:
    runtime.refusal_log().write(401, "invalid_header", {}, Fields(token, sub))


@pytest.mark.parametrize(
    ("tokens", "lines_per_window", "worked_out"),
    [
        # The rate, and nothing past it (one kind, already written); that one token's fields worked out once.
        pytest.param(lambda _w, _i: ("junk", "auth0|junk"), 5, 1, id="one-token"),
        # Each token worked out until the window's budget of twice the rate is spent; one kind, already written.
        pytest.param(lambda w, i: (f"junk{w}.{i}", "auth0|junk"), 5, 3 * (5 + 5), id="new-tokens-of-one-kind"),
        # Each one a kind of its own: as many lines again as the rate, and nothing worked out after them.
        pytest.param(lambda w, i: (f"junk{w}.{i}", f"auth0|junk{w}.{i}"), 5 + 5, 3 * (5 + 5), id="a-kind-each"),
    ],
)
def test_flood_writes_and_works_out_a_bounded_number_a_window(
    settings, caplog, fake_time, tokens, lines_per_window, worked_out
):
    settings.AUTH0_REFUSAL_LOG_RATE = 5
    Fields.calls = 0
    run = secrets.token_hex(8)  # tokens no earlier test refused

    def send(window: int, index: int) -> None:
        token, sub = tokens(window, index)
        refuse(run + token, sub)

    with caplog.at_level(logging.INFO, logger="authn"):
        lines = window_lines(caplog, fake_time, 3, 400, send)
    assert [len(window) for window in lines] == [lines_per_window] * 3
    assert Fields.calls == worked_out


def test_flood_hides_no_different_refusal(call, tenant, make_token, other_rsa_key, settings, caplog, fake_time):
    """1,100 refusals of junk tokens in three seconds, one different attempt amid them: it is written, each
    second writes a bounded number of lines, and the summaries count every refusal left out."""
    rate = settings.AUTH0_REFUSAL_LOG_RATE = 20
    junk = hand_made_token({"iss": ISSUER, "sub": "auth0|junk"})
    mallory = make_token(key=other_rsa_key, sub="auth0|mallory")  # a key the tenant does not publish
    per_window = 1100 // 3

    def send(window: int, index: int) -> None:
        authorization = f"Bearer {junk}" if index % 2 else f"Bearer garbage{index}"
        if (window, index) == (1, per_window // 2):
            authorization = f"Bearer {mallory}"
        assert call("/api/private", authorization=authorization).status_code == 401

    fake_time.advance(5)
    call("/api/private", authorization="Bearer garbage-before")  # what earlier tests left out: summed up now
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="authn"):
        lines = window_lines(caplog, fake_time, 3, per_window, send)
        fake_time.advance(1)
        call("/api/private", authorization="Bearer garbage-after")
    assert [line for line in lines[1] if "unverified_sub='auth0|mallory'" in line]
    assert all(len(window) <= 2 * rate for window in lines)
    summaries = [r.getMessage() for r in caplog.records if "refusals not logged" in r.getMessage()]
    left_out = sum(int(message.split(": ")[1].split(" ")[0]) for message in summaries)
    assert left_out == 3 * per_window - sum(len(window) for window in lines)


def test_refused_token_claims_are_logged_as_unverified(call, tenant, make_token, other_rsa_key, caplog):
    with caplog.at_level(logging.INFO, logger="authn"):
        call("/api/private", token=make_token(key=other_rsa_key, sub="auth0|mallory"))  # the tenant's is rsa_key
    [line] = refusal_lines(caplog)
    message = line.getMessage()
    assert "unverified_sub='auth0|mallory'" in message
    assert " sub=" not in message


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
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), exc_info=sys.exc_info())
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
