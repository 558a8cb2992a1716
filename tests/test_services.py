"""The private Redis and PostgreSQL of tests/support/services.py start, stop, come back and accept work."""

from __future__ import annotations

import socket

import pytest

from tests.support.services import PostgresServer, RedisServer, redis_command


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_redis_answers_ping_and_starts_each_test_empty(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.ping()
    assert redis_command(redis_server.port, "SET leftover 1") == b"+OK"


def test_redis_stops_and_starts_again_on_the_same_port(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_command(redis_server.port, "EXISTS leftover") == b":0"  # flushed since the previous test
    port = redis_server.port
    redis_server.stop()
    assert not redis_server.ping()
    assert refuses_connections(port)
    redis_server.start()
    assert redis_server.port == port
    assert redis_server.ping()


def test_redis_url_restarts_a_server_a_test_left_stopped(
    redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    redis_server.stop()
    assert request.getfixturevalue("redis_url") == redis_server.url
    assert redis_server.ping()


def test_postgres_accepts_connections_and_creates_databases(postgres_server: PostgresServer) -> None:
    psycopg = pytest.importorskip("psycopg")
    assert postgres_server.url == f"postgres://postgres@127.0.0.1:{postgres_server.port}/messages_api"
    with psycopg.connect(postgres_server.url) as connection:
        assert connection.execute("SELECT current_database(), current_user").fetchone() == ("messages_api", "postgres")
    url = postgres_server.create_database()
    with psycopg.connect(url) as connection:
        connection.execute("CREATE TABLE t (n int)")
        connection.execute("INSERT INTO t VALUES (1)")
        assert connection.execute("SELECT n FROM t").fetchall() == [(1,)]
    assert url != postgres_server.create_database()  # each call makes a new, uniquely named database
