"""Private Redis, PostgreSQL and nginx servers for the tests: real binaries on free loopback ports, stopped at the end.

A pytest plugin, registered in tests/conftest.py. A missing binary skips the tests that need it, unless
``REQUIRE_REDIS=1`` / ``REQUIRE_POSTGRES=1`` / ``REQUIRE_NGINX=1`` (set in CI) make that a failure.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.support.network import free_port
from tests.support.waiting import wait_for

STARTUP_TIMEOUT = 10.0  # seconds a server gets to answer before the fixture fails with its log
POSTGRES_USER = "postgres"  # the superuser initdb creates, and the system user that runs the server under root
POSTGRES_DB = "messages_api"


def missing(what: str, package: str, require_env: str) -> NoReturn:
    """Skip for want of ``package``; fail instead when ``require_env`` is 1, as CI sets it: the tests must run."""
    message = f"{what}: apt-get install {package}"
    if os.environ.get(require_env) == "1":
        pytest.fail(f"{message} ({require_env}=1 forbids skipping)")
    pytest.skip(message)


def read_log(path: Path) -> str:
    """The server log at ``path``, or a note that there is none."""
    try:
        return path.read_text(errors="replace")
    except OSError as error:
        return f"(no log: {error})"


# Redis


def redis_command(port: int, command: str, timeout: float = 1.0) -> bytes:
    """Send one inline command to Redis on 127.0.0.1:``port``; return its first reply line (e.g. ``b"+PONG"``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(command.encode() + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.removesuffix(b"\r\n")


class ChildServer:
    """A server run as a child process: ``running`` while it lives, ``stop()`` ends it."""

    _process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Terminate it and wait for it to exit (SIGKILL after 10 s); nothing to do if it is not running."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer(ChildServer):
    """``redis-server`` as a child process on 127.0.0.1:``port``, no persistence; stop()/start() keep port and dir."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.log = directory / "redis.log"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        """Whether it answers PING with PONG right now."""
        try:
            return redis_command(self.port, "PING") == b"+PONG"
        except OSError:
            return False

    def flushall(self) -> None:
        """Delete every key in every logical database."""
        reply = redis_command(self.port, "FLUSHALL")
        assert reply == b"+OK", f"FLUSHALL answered {reply!r}"

    def start(self) -> None:
        """Start it unless it runs, and wait until it answers PING; fail with its log after ``STARTUP_TIMEOUT``."""
        if self.running:
            return
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.directory), "--daemonize", "no"]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        if not wait_for(lambda: not self.running or self.ping(), timeout=STARTUP_TIMEOUT) or not self.running:
            self.stop()
            pytest.fail(f"redis-server did not answer PING on port {self.port}; its log:\n{read_log(self.log)}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private Redis for the whole session, terminated at its end whatever the tests did."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server not found", "redis-server", "REQUIRE_REDIS")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty private Redis: started again if a previous test stopped it, then FLUSHALL."""
    redis_server.start()
    redis_server.flushall()
    return redis_server.url


# PostgreSQL


def _version(bin_dir: Path) -> tuple[int, ...]:
    name = bin_dir.parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(part) for part in name.split(".")) if name.replace(".", "").isdigit() else ()


def find_postgres_bin() -> Path | None:
    """The directory of ``pg_ctl`` on PATH, else of the highest /usr/lib/postgresql/*/bin (Debian's place)."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).parent] if on_path else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    for bin_dir in candidates:
        if all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "createdb")):
            return bin_dir
    return None


class PostgresServer:
    """A PostgreSQL cluster of its own on 127.0.0.1:``port``, trust auth, durability off; run as ``postgres`` if root.

    PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` system user, and its
    directory is a fresh one in /tmp owned by that user: pytest's temporary directories are private to root.
    """

    def __init__(self, bin_dir: Path, directory: Path, as_user: list[str]) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.port = free_port()
        self.user = POSTGRES_USER
        self.dbname = POSTGRES_DB
        self._as_user = as_user  # prefix that runs a server-side command as the cluster's owner
        self._env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
        self.running = False

    @property
    def url(self) -> str:
        return self.url_for(self.dbname)

    def url_for(self, dbname: str) -> str:
        """The ``postgres://`` URL (django-environ's DATABASE_URL) of database ``dbname`` on this server."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, as_owner: bool = False) -> None:
        """Run a bin_dir tool; fail the test with its output and the server log if it fails or hangs."""
        command = [*(self._as_user if as_owner else []), str(self.bin_dir / args[0]), *args[1:]]
        try:
            subprocess.run(  # noqa: S603
                command, cwd=self.directory, env=self._env, capture_output=True, text=True, check=True, timeout=60
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            output = f"{error.stdout or ''}{error.stderr or ''}"
            pytest.fail(f"{shlex.join(command)} failed: {error}\n{output}\nserver log:\n{read_log(self.log)}")

    def init(self) -> None:
        """Create the cluster: superuser ``postgres``, trust auth, UTF8, C locale, no fsync of the new files."""
        flags = ["--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        self._run("initdb", "-D", str(self.data), "-U", self.user, *flags, as_owner=True)

    def start(self) -> None:
        """Start it unless it runs and wait until it accepts connections (``pg_ctl -w``, ``STARTUP_TIMEOUT``)."""
        if self.running:
            return
        options = f"-p {self.port} -k {shlex.quote(str(self.directory))} -c listen_addresses=127.0.0.1"
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        args = ["-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", str(int(STARTUP_TIMEOUT))]
        self._run("pg_ctl", *args, "start", as_owner=True)
        self.running = True

    def stop(self) -> None:
        """Stop it at once (``pg_ctl stop -m immediate``: no checkpoint; next start recovers); harmless if stopped."""
        self.running = False
        subprocess.run(  # noqa: S603
            [*self._as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            cwd=self.directory,
            env=self._env,
            capture_output=True,
            check=False,
            timeout=60,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create database ``name`` (default: a unique ``test_<hex>``) and return its URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url_for(name)


def _postgres_directory(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Where the cluster lives and the command prefix that runs its server as a non-root user."""
    if os.geteuid() != 0:
        return tmp_path_factory.mktemp("postgres"), []
    try:
        owner = pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        missing("running PostgreSQL as root needs the 'postgres' system user", "postgresql", "REQUIRE_POSTGRES")
    runuser = shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if runuser is None:
        missing("running PostgreSQL as root needs runuser", "util-linux", "REQUIRE_POSTGRES")
    # pytest's temporary directories are private to root, so the postgres user could not reach one.
    directory = Path(tempfile.mkdtemp(prefix="pytest-postgres-", dir="/tmp"))
    os.chown(directory, owner.pw_uid, owner.pw_gid)
    return directory, [runuser, "-u", POSTGRES_USER, "--"]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A private PostgreSQL for the whole session with database ``messages_api``, stopped at its end."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found", "postgresql", "REQUIRE_POSTGRES")
    directory, as_user = _postgres_directory(tmp_path_factory)
    server = PostgresServer(bin_dir, directory, as_user)
    try:
        server.init()
        server.start()
        server.create_database(server.dbname)
        yield server
    finally:
        server.stop()
        if as_user:  # our own directory in /tmp, not pytest's
            shutil.rmtree(directory, ignore_errors=True)


# nginx


def find_nginx() -> str | None:
    """nginx on PATH, else in /usr/sbin (Debian's place, on root's PATH only)."""
    return shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


class NginxServer(ChildServer):
    """A private nginx on 127.0.0.1:``port``: one foreground process, its prefix, configuration, pid file, logs
    and temporary files all in ``directory``; the ``http`` block's servers given to ``start``."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.log = directory / "error.log"
        self.port = free_port()

    def accepts(self) -> bool:
        """Whether it accepts a connection on its port right now."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
        except OSError:
            return False
        return True

    def start(self, servers: str) -> None:
        """Serve ``servers`` (nginx ``server`` blocks); fail with its log if it does not listen within
        ``STARTUP_TIMEOUT``. One process, not daemonized: it keeps the privileges it started with."""
        temporary = "".join(
            f"    {kind}_temp_path {self.directory / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        config = self.directory / "nginx.conf"
        config.write_text(
            f"daemon off;\nmaster_process off;\npid {self.directory / 'nginx.pid'};\nerror_log {self.log} info;\n"
            f"events {{ worker_connections 64; }}\n"
            f"http {{\n    access_log {self.directory / 'access.log'};\n{temporary}{servers}}}\n"
        )
        args = [self.binary, "-p", f"{self.directory}/", "-c", str(config), "-e", str(self.log)]
        with (self.directory / "nginx.out").open("ab") as out:
            self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        if not wait_for(lambda: not self.running or self.accepts(), timeout=STARTUP_TIMEOUT) or not self.running:
            self.stop()
            pytest.fail(f"nginx did not listen on port {self.port}; its log:\n{read_log(self.log)}")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    """A private nginx for the module, not started (``start`` takes its servers), terminated at the module's end."""
    binary = find_nginx()
    if binary is None:
        missing("nginx not found", "nginx", "REQUIRE_NGINX")
    server = NginxServer(binary, tmp_path_factory.mktemp("nginx"))
    try:
        yield server
    finally:
        server.stop()
