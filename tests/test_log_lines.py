"""Log lines a client cannot forge or disguise: in either format, each line is one record and carries none of
the client's control, line-separating or bidirectional characters raw.

A real gunicorn of this project (gunicorn.conf.py routes its access and error logs through Django's LOGGING),
one per format, gets requests that put those characters in its path, its User-Agent and a token's claims;
runserver, whose access log quotes the raw request line, gets one too.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest
import requests

from tests.support.network import free_port
from tests.support.servers import COMMANDS, Server, assert_clean, start, stop, tenant_env
from tests.support.tenant import ISSUER
from tests.support.tokens import hand_made_token
from tests.support.waiting import wait_for

# What a client must never write raw into a line, listed from the requirement itself: C0 controls (the line
# feed ends the lines, so it is looked for as a line of its own), DEL, C1 controls (NEL among them), the
# Unicode line and paragraph separators, and the bidirectional formatting characters.
RAW_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f\x80-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
PLAIN_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+) ")

# Each request writes its marker into at least one record: which logger's records may hold it.
FORGED_PATH = "/api/public%0a2026-01-01%2000:00:00,000%20INFO%20authn%20refused%20FORGED-PATH%1b[31m"
SEPARATORS_PATH = "/api/public%E2%80%A8%E2%80%AE%C2%85SEPARATORS-PATH"
# gunicorn refuses C0 controls and DEL in a header; C1 ones (NEL) and UTF-8 of U+2028 (read as Latin-1) pass.
AGENT = b"curl\x85\xe2\x80\xa8 AGENT-MARKER"
CLAIMED_SUB = "auth0|x\u2028y\u202ez\x1b[31m\n2026-01-01 00:00:00,000 INFO authn refused SUB-MARKER"


@pytest.fixture(scope="module", params=["plain", "json"])
def logged(request, tenant_server, tmp_path_factory) -> Iterator[tuple[str, Server]]:
    """A gunicorn (one worker, gunicorn.conf.py) logging in ``request.param`` format, with every hostile request
    above already answered and logged."""
    port = free_port()
    env = tenant_env(tenant_server) | {"LOG_FORMAT": request.param}
    log = tmp_path_factory.mktemp(request.param) / "server.log"
    served = start([*COMMANDS["gunicorn"](port), "--workers", "1"], env, log, port)
    try:
        assert requests.get(served.url + FORGED_PATH, timeout=10).status_code == 404
        assert requests.get(served.url + SEPARATORS_PATH, timeout=10).status_code == 404
        assert requests.get(served.url + "/api/public", headers={"User-Agent": AGENT}, timeout=10).ok
        token = hand_made_token({"iss": ISSUER, "sub": CLAIMED_SUB})
        assert served.get("/api/private", token).status_code == 401
        markers = ("FORGED-PATH", "SEPARATORS-PATH", "AGENT-MARKER", "SUB-MARKER")
        assert wait_for(lambda: all(marker in "\n".join(lines(served)) for marker in markers), timeout=10)
        yield request.param, served
    finally:
        stop(served)
    assert_clean(served.log_text())


def lines(server: Server) -> list[str]:
    """The lines the server has written whole (the last may be half written)."""
    text = server.log.read_text(encoding="utf-8", errors="replace")
    return text[: text.rfind("\n") + 1].split("\n")[:-1]


def test_log_lines_hold_no_raw_character_a_client_sent(logged):
    _format, server = logged
    unsafe = [line for line in lines(server) if RAW_UNSAFE.search(line)]
    assert unsafe == []


def record_logger(log_format: str, line: str) -> str:
    """The logger that wrote ``line``, failing unless the whole line is one record."""
    if log_format == "json":
        return json.loads(line)["logger"]
    record = PLAIN_RECORD.match(line)
    assert record is not None, line
    return record[1]


def test_log_every_line_is_one_record_none_of_them_forged(logged):
    log_format, server = logged
    assert {record_logger(log_format, line) for line in lines(server)}
    assert not [line for line in lines(server) if line.startswith("2026-01-01")]  # FORGED_PATH's line


@pytest.mark.parametrize(
    ("marker", "loggers"),
    [
        pytest.param("FORGED-PATH", {"gunicorn.access", "django.request"}, id="newline-and-escape-in-path"),
        pytest.param("SEPARATORS-PATH", {"gunicorn.access", "django.request"}, id="separators-in-path"),
        pytest.param("AGENT-MARKER", {"gunicorn.access"}, id="controls-in-user-agent"),
        pytest.param("SUB-MARKER", {"authn"}, id="controls-in-unverified-sub"),
    ],
)
def test_log_client_text_stays_inside_the_record_that_quotes_it(logged, marker, loggers):
    log_format, server = logged
    holding = [line for line in lines(server) if marker in line]
    assert holding
    assert {record_logger(log_format, line) for line in holding} <= loggers


def test_runserver_access_log_is_escaped_like_every_other(tenant_server, tmp_path):
    """runserver's access log (``django.server``) quotes the request line as the client sent it, raw bytes and
    all; it reaches the same handler and formatter as the rest."""
    port = free_port()
    env = tenant_env(tenant_server) | {"LOG_FORMAT": "json"}
    served = start(COMMANDS["runserver"](port), env, tmp_path / "server.log", port)
    try:
        serving_from = len(served.log.read_bytes())  # runserver's banner, printed before it serves, is no record
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            request_line = b"GET /api/public\x1b[31m\x9bRAW-MARKER HTTP/1.1\r\n"
            connection.sendall(request_line + b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):  # all of it: runserver logs a request it wrote whole
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 404")
        access_line = re.compile(r'"logger": "django.server".*RAW-MARKER')
        assert wait_for(lambda: access_line.search(served.log_text()), timeout=10)  # written after the response
    finally:
        stop(served)
    written = served.log.read_bytes()[serving_from:].decode()
    entries = [json.loads(line) for line in written.split("\n")[:-1]]
    holding = {entry["logger"] for entry in entries if "RAW-MARKER" in entry["message"]}
    assert "django.server" in holding
    assert holding <= {"django.server", "django.request"}
    assert not RAW_UNSAFE.search(written.replace("\n", ""))
