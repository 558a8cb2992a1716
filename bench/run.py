"""``make bench``: requests/s, latency and the CPU cost of authentication under gunicorn.

What it does, in order:

1. Generates an RSA key, serves its JWKS from a stand-in tenant on loopback
   (a real HTTP server in this process that counts the requests it answers), and
   mints one token per endpoint plus a pool of distinct tokens into
   ``bench/.work/tokens.txt`` (git-ignored; deleted at the end).
2. Measures the floor on this machine: one RS256 verification with
   ``cryptography``, PyJWT's ``jwt.decode`` of the same token, and the project's
   ``TokenValidator`` with and without its verified-token cache (in-process).
3. Starts ``gunicorn config.wsgi:application -w 2`` (sync workers: gthread,
   with 1 or 4 threads, measured no better here, in CPU per request or p99),
   waits for it, warms both workers up (each fetches the JWKS once), then
   drives ``wrk`` (``bench/bearer.lua``; ``bench/pyload.py`` if wrk is missing)
   against /api/public, /api/private and /api/private-scoped in rounds that
   alternate the endpoints, first with a repeated token, then with first-seen
   tokens, reading the server's CPU time from ``/proc`` around every run.
4. Runs a load check (64 connections on the scoped endpoint) and prints, and
   writes to ``docs/benchmarks.md``, one markdown report with the targets.

Every process it starts is stopped on exit, error or Ctrl-C. Exit status: 0
when every response was a 200, no JWKS was fetched twice and the load check
passed (missed performance targets are reported, not fatal), 1 otherwise.

    make bench                               # full run, ~2.5 minutes
    make bench BENCH_ARGS=--quick            # ~20 s smoke run, report in bench/.work/benchmarks-quick.md
    .venv/bin/python bench/run.py --help     # rounds, durations, connections, worker class...

To measure a change without editing the project, ``--settings FILE.py`` runs
the server with a settings file (``from config.settings import *`` then the
change) and ``--gunicorn-args="-c FILE.py"`` adds a gunicorn config (hooks).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import http.client
import json
import os
import platform
import resource
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
VENV_BIN = Path(sys.executable).parent
ISSUER = "https://bench.example.com/"
AUDIENCE = "https://bench.example.com/api/messages"
KID = "bench-key-1"
JWKS_PATH = "/.well-known/jwks.json"
ENDPOINTS = {"public": "/api/public", "private": "/api/private", "scoped": "/api/private-scoped"}
MODES = {"repeated": "repeated token", "first-seen": "first-seen tokens"}
ROUND_ORDER = ["public", "scoped", "private"]  # scoped next to public, the pair the targets compare
# The pool's first lines warm the first-seen path up and fill both workers' verified-token caches
# (4,096 each), so the measured runs see the steady state: filling costs more (the heap grows).
WARMUP_TOKENS = 12_000
QUICK_WARMUP_TOKENS = 3_000
TARGETS = {"ratio": 0.95, "overhead_repeated": 15.0, "overhead_first_seen": 60.0, "p99_ratio": 1.2}


# -- options -----------------------------------------------------------------


def env_default(name: str, default: Any) -> Any:
    value = os.environ.get(name)
    return type(default)(value) if value not in (None, "") else default


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the API under gunicorn; every option also reads a BENCH_* variable.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=env_default("BENCH_QUICK", 0) == 1,
        help="~20 s smoke run: 1 round of 2 s, small pool, no load check, report to bench/.work/ (BENCH_QUICK=1)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=env_default("BENCH_ROUNDS", 6),
        help="rounds; each runs every endpoint in both modes (BENCH_ROUNDS)",
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=env_default("BENCH_DURATION", 2),
        help="whole seconds per endpoint per round, as wrk takes them (BENCH_DURATION)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=env_default("BENCH_CONNECTIONS", 4),
        help="wrk connections in the measured rounds (BENCH_CONNECTIONS)",
    )
    parser.add_argument(
        "--threads", type=int, default=env_default("BENCH_WRK_THREADS", 1), help="wrk threads (BENCH_WRK_THREADS)"
    )
    parser.add_argument(
        "--workers", type=int, default=env_default("BENCH_WORKERS", 2), help="gunicorn workers (BENCH_WORKERS)"
    )
    parser.add_argument(
        "--worker-class",
        choices=("sync", "gthread"),
        default=env_default("BENCH_WORKER_CLASS", "sync"),
        help="gunicorn worker class (BENCH_WORKER_CLASS)",
    )
    parser.add_argument(
        "--worker-threads",
        type=int,
        default=env_default("BENCH_WORKER_THREADS", 4),
        help="threads per worker with --worker-class gthread (BENCH_WORKER_THREADS)",
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=env_default("BENCH_POOL", 0),
        help="first-seen tokens to mint; 0 sizes it for the run (at least 50,000 unless --quick) (BENCH_POOL)",
    )
    parser.add_argument(
        "--load-seconds",
        type=int,
        default=env_default("BENCH_LOAD_SECONDS", 30),
        help="length of the 64-connection load check; 0 skips it (BENCH_LOAD_SECONDS)",
    )
    parser.add_argument(
        "--load-connections",
        type=int,
        default=env_default("BENCH_LOAD_CONNECTIONS", 64),
        help="connections of the load check (BENCH_LOAD_CONNECTIONS)",
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default=env_default("BENCH_LOADGEN", "auto"),
        help="load generator; auto is wrk when installed (BENCH_LOADGEN)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="markdown report (default docs/benchmarks.md; bench/.work/benchmarks-quick.md with --quick)",
    )
    parser.add_argument(
        "--gunicorn-args",
        default=env_default("BENCH_GUNICORN_ARGS", ""),
        help="extra gunicorn arguments, e.g. '-c my.conf.py' to try a hook (BENCH_GUNICORN_ARGS)",
    )
    parser.add_argument(
        "--settings",
        default=env_default("BENCH_SETTINGS", "config.settings"),
        help="Django settings module for the server, or a .py file (e.g. one that imports config.settings and "
        "changes a setting, to measure the change without editing config/) (BENCH_SETTINGS)",
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the token pool file in bench/.work/")
    if parser.parse_known_args(argv)[0].quick:  # --quick changes the defaults; explicit options still win
        parser.set_defaults(rounds=1, duration=2, load_seconds=0)
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = WORK / "benchmarks-quick.md" if args.quick else ROOT / "docs" / "benchmarks.md"
    return args


# -- processes: everything started here is stopped here ------------------------


class Processes:
    """Children started in their own process group, so stopping one stops all it started."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen] = []

    def start(self, command: list[str], **kwargs: Any) -> subprocess.Popen:
        process = subprocess.Popen(command, start_new_session=True, **kwargs)
        self._started.append(process)
        return process

    def stop(self, process: subprocess.Popen, grace: float = 10.0) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # gunicorn's workers are in the same group: make sure none outlives the master.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        while self._started:
            self.stop(self._started.pop())


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


# -- the stand-in tenant ---------------------------------------------------------


class StandInTenant:
    """Serves one JWK Set at ``JWKS_PATH`` on loopback and counts the requests it answers."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.body = json.dumps(jwks).encode()
        self._count = 0
        self._lock = threading.Lock()
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with tenant._lock:
                    tenant._count += 1
                found = self.path == JWKS_PATH
                body = tenant.body if found else b"{}"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{JWKS_PATH}"

    @property
    def fetches(self) -> int:
        with self._lock:
            return self._count

    def start(self) -> StandInTenant:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# -- keys and tokens ---------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def new_key() -> tuple[Any, dict[str, Any]]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": b64url_uint(numbers.n), "e": "AQAB"}
    return key, {"keys": [jwk]}


_signing_key: Any = None


def _load_signing_key(pem: bytes) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    global _signing_key  # noqa: PLW0603 - one key per minting process
    _signing_key = load_pem_private_key(pem, password=None)


def _claims(index: int, now: int) -> dict[str, Any]:
    """An Auth0-shaped access token's claims; the fixed-width ``sub`` keeps every token the same length."""
    return {
        "iss": ISSUER,
        "sub": f"auth0|bench{index:010d}",
        "aud": [AUDIENCE, ISSUER + "userinfo"],
        "iat": now,
        "exp": now + 4 * 3600,
        "azp": "bEnChCl1eNt0000000000000000000000",
        "scope": "openid profile email read:messages",
    }


def mint_tokens(job: tuple[range, int]) -> list[str]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    indices, now = job
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": KID}, separators=(",", ":")).encode())
    tokens = []
    for index in indices:
        payload = b64url(json.dumps(_claims(index, now), separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}"
        signature = _signing_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        tokens.append(f"{signing_input}.{b64url(signature)}")
    return tokens


def mint_pool(key: Any, count: int, path: Path) -> tuple[list[str], int]:
    """Writes ``count`` distinct tokens to ``path``, one per line; returns 3 more (one per endpoint) and the width."""
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    now, chunk = int(time.time()), 2000
    jobs = [(range(start, min(start + chunk, count + 3)), now) for start in range(0, count + 3, chunk)]
    width, minted, extra = 0, 0, []
    with (
        ProcessPoolExecutor(os.cpu_count() or 1, initializer=_load_signing_key, initargs=(pem,)) as pool,
        path.open("w", encoding="ascii") as out,
    ):
        try:
            for tokens in pool.map(mint_tokens, jobs):
                for token in tokens:
                    width = width or len(token)
                    if len(token) != width:
                        raise RuntimeError("minted tokens differ in length; bearer.lua needs fixed-width lines")
                    if minted < count:
                        out.write(token + "\n")
                    else:
                        extra.append(token)
                    minted += 1
        except BaseException:
            pool.shutdown(cancel_futures=True)  # on Ctrl-C, wait for the chunks in progress only
            raise
    return extra, width


# -- the floor: single operations, in this process -----------------------------------


def median_us(operation: Callable[[], Any], runs: int) -> float:
    for _ in range(min(200, runs)):
        operation()
    timings = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        operation()
        timings.append(time.perf_counter_ns() - started)
    return statistics.median(timings) / 1000


def measure_floor(key: Any, jwks: dict[str, Any], token: str, pool_sample: list[str]) -> dict[str, float]:
    import jwt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    sys.path.insert(0, str(ROOT))
    from authn.jwks import signing_key
    from authn.tokens import TokenValidator

    public_key = key.public_key()
    signing_input, _, signature = token.rpartition(".")
    message, raw_signature = signing_input.encode("ascii"), base64.urlsafe_b64decode(signature + "==")

    def verify() -> None:
        public_key.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256())

    def pyjwt_decode() -> None:
        jwt.decode(token, public_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)

    known = signing_key(jwks["keys"][0], ["RS256"])

    class KeySource:
        def get_key(self, kid: str) -> Any:
            return known if kid == KID else None

        peek = get_key

    def validator(cache_size: int) -> TokenValidator:
        return TokenValidator(
            issuer=ISSUER, audiences=[AUDIENCE], algorithms=["RS256"], key_source=KeySource(), cache_size=cache_size
        )

    uncached, cached = validator(0), validator(4096)
    cached.validate(token)
    distinct = iter(pool_sample * 1000)
    full_cache = validator(len(pool_sample) // 2)  # every validate() also evicts, as under first-seen load
    return {
        "verify": median_us(verify, 5000),
        "pyjwt": median_us(pyjwt_decode, 3000),
        "validator_first_seen": median_us(lambda: uncached.validate(token), 3000),
        "validator_first_seen_evicting": median_us(lambda: full_cache.validate(next(distinct)), 3000),
        "validator_cached": median_us(lambda: cached.validate(token), 20000),
    }


# -- gunicorn --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(args: argparse.Namespace, port: int) -> list[str]:
    command = [
        str(VENV_BIN / "gunicorn"),
        "config.wsgi:application",
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{port}",
    ]
    if args.worker_class == "gthread":
        command += ["-k", "gthread", "--threads", str(args.worker_threads)]
    return command + shlex.split(args.gunicorn_args)


def server_env(jwks_url: str, settings: str = "config.settings") -> dict[str, str]:
    env = dict(os.environ)
    if settings.endswith(".py"):  # a file: importable by its name from its folder
        path = Path(settings).resolve()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path.parent), str(ROOT), env.get("PYTHONPATH")]))
        settings = path.stem
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        AUTH0_DOMAIN="bench.example.com",
        AUTH0_ISSUER=ISSUER,
        AUTH0_AUDIENCE=AUDIENCE,
        AUTH0_JWKS_URL=jwks_url,
        PYTHONUNBUFFERED="1",
    )
    return env


def get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of one GET; redirects are not followed (a redirect is a failure here)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_serving(process: subprocess.Popen, base_url: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if get(base_url + ENDPOINTS["public"], timeout=1.0)[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- CPU accounting from /proc ---------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces


def server_pids(master: int) -> list[int]:
    """The gunicorn master and its workers."""
    workers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields is not None and int(fields[1]) == master:
                workers.append(int(entry.name))
    return [master, *sorted(workers)]


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (fields 14 and 15 of /proc/<pid>/stat), in seconds."""
    ticks = 0
    for pid in pids:
        fields = proc_stat(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have used (user, nice, system, irq, softirq, steal), in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_and_children_seconds() -> float:
    """CPU time of this process (the stand-in tenant runs in it) and of its finished children (the load generator)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


# -- load ------------------------------------------------------------------------------


@dataclass
class Round:
    number: int
    mode: str
    endpoint: str
    requests: int
    seconds: float
    p50_us: float
    p99_us: float
    cpu_seconds: float
    other_cores: float  # CPU used by processes that are neither the server nor the benchmark, in cores
    jwks_fetches: int
    errors: int  # socket errors and timeouts
    non200: int
    bad_status: int
    wrapped: int
    workers_changed: bool

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds * 1e6 / self.requests if self.requests else 0.0


@dataclass
class Bench:
    args: argparse.Namespace
    processes: Processes
    tenant: StandInTenant
    base_url: str
    master: int
    loadgen: str
    repeated_tokens: dict[str, str]
    pool_file: Path
    token_width: int
    pool_size: int
    warmup_tokens: int = WARMUP_TOKENS
    pool_cursor: int = 0
    rounds: list[Round] = field(default_factory=list)

    @property
    def block_size(self) -> int:
        """Tokens for one authenticating first-seen run: the pool split evenly between them."""
        return (self.pool_size - self.warmup_tokens) // (self.args.rounds * 2)

    def run_load(
        self, endpoint: str, mode: str, seconds: int, *, connections: int, token_block: tuple[int, int] | None = None
    ) -> Round:
        env = dict(os.environ)
        if token_block is None:
            env["BENCH_TOKEN"] = self.repeated_tokens[endpoint]
        else:
            env.update(
                BENCH_TOKEN_FILE=str(self.pool_file),
                BENCH_TOKEN_WIDTH=str(self.token_width),
                BENCH_TOKEN_START=str(token_block[0]),
                BENCH_TOKEN_COUNT=str(token_block[1]),
            )
        url = self.base_url + ENDPOINTS[endpoint]
        if self.loadgen == "wrk":
            threads = min(self.args.threads, connections)
            env["BENCH_THREADS"] = str(threads)
            command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
                       "-s", str(BENCH / "bearer.lua"), url]  # fmt: skip
        else:
            env["BENCH_THREADS"] = str(connections)
            command = [sys.executable, str(BENCH / "pyload.py"), "-c", str(connections), "-d", f"{seconds:g}", url]
        pids = server_pids(self.master)
        before = (cpu_seconds(pids), machine_busy_seconds(), own_and_children_seconds(), self.tenant.fetches)
        process = self.processes.start(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output, _ = process.communicate(timeout=seconds + 120)
        time.sleep(0.2)  # the server finishes the requests in flight when the client stopped
        after = (cpu_seconds(pids), machine_busy_seconds(), own_and_children_seconds(), self.tenant.fetches)
        lines = [line for line in output.splitlines() if line.startswith("BENCH_RESULT ")]
        if process.returncode != 0 or not lines:
            raise RuntimeError(f"{command[0]} failed (status {process.returncode}):\n{output[-3000:]}")
        result = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
        server_cpu, busy, ours = (after[i] - before[i] for i in range(3))
        elapsed = result["duration_us"] / 1e6
        return Round(
            number=0,  # the caller numbers the rounds
            mode=mode,
            endpoint=endpoint,
            requests=result["requests"],
            seconds=elapsed,
            p50_us=result["p50_us"],
            p99_us=result["p99_us"],
            cpu_seconds=server_cpu,
            other_cores=max(0.0, busy - server_cpu - ours) / (elapsed + 0.2) if elapsed else 0.0,
            jwks_fetches=after[3] - before[3],
            errors=sum(result[name] for name in ("connect", "read", "write", "timeout")),
            non200=result["non200"],
            bad_status=result["bad_status"],
            wrapped=result["wrapped"],
            workers_changed=server_pids(self.master) != pids,
        )

    def warm_up(self) -> None:
        """Each worker fetches the JWKS once and runs every endpoint's code before anything is measured."""
        seconds, connections = (1 if self.args.quick else 2), self.args.connections
        fill = (0, self.warmup_tokens)  # at ~2,700 req/s, 5 s sends about all of them
        self.run_load("scoped", "warm-up", 1 if self.args.quick else 5, connections=connections, token_block=fill)
        self.pool_cursor = self.warmup_tokens
        for endpoint in ENDPOINTS:
            self.run_load(endpoint, "warm-up", seconds, connections=connections)
        deadline = time.monotonic() + 10
        while self.tenant.fetches < self.args.workers and time.monotonic() < deadline:
            self.run_load("private", "warm-up", 1, connections=connections)

    def measure(self) -> None:
        """Rounds of the three endpoints: all rounds with a repeated token, then all with first-seen tokens.

        Odd rounds run public, scoped, private; even rounds the reverse: scoped always runs next to
        public, which it is compared with, and a drift during a round does not always favour the
        same endpoint. The two modes are not interleaved: a first-seen run
        leaves each worker thousands of new long-lived objects, and the garbage collection they cause
        was paid by whichever run came next (+10 to +20 us/request in a trial run), which skewed the
        repeated-token comparison towards the endpoint that did not run first.
        """
        total, done = self.args.rounds * len(MODES) * len(ENDPOINTS), 0
        for mode, mode_name in MODES.items():
            for number in range(1, self.args.rounds + 1):
                for endpoint in ROUND_ORDER if number % 2 else ROUND_ORDER[::-1]:
                    measured = self.run_load(
                        endpoint,
                        mode,
                        self.args.duration,
                        connections=self.args.connections,
                        token_block=self.token_block(endpoint) if mode == "first-seen" else None,
                    )
                    measured.number = number
                    self.rounds.append(measured)
                    done += 1
                    print(f"  [{done:2d}/{total}] round {number} {mode_name:17s} {endpoint:7s} {progress(measured)}",
                          flush=True)  # fmt: skip

    def token_block(self, endpoint: str) -> tuple[int, int]:
        """The pool lines a first-seen run sends: a block of its own for a run that validates."""
        if endpoint == "public":
            # public validates nothing, and serves more requests: it sends two blocks' worth,
            # which runs that validate send too (before or after it)
            start = min(self.pool_cursor, self.pool_size - 2 * self.block_size)
            return max(self.warmup_tokens, start), 2 * self.block_size
        block = (self.pool_cursor, self.block_size)
        self.pool_cursor += self.block_size
        return block


def progress(r: Round) -> str:
    line = f"{r.rps:7.0f} req/s  p99 {r.p99_us / 1000:6.2f} ms  {r.cpu_us:5.0f} CPU us/req"
    if r.other_cores >= 0.1:
        line += f"  (other load: {r.other_cores:.1f} cores)"
    if r.non200 or r.errors:
        line += f"  NON-200: {r.non200} (last {r.bad_status}), ERRORS: {r.errors}"
    if r.wrapped and r.endpoint != "public":  # public validates nothing: resending there is harmless
        line += f"  TOKENS REUSED ({r.wrapped} wraps)"
    return line


# -- report ----------------------------------------------------------------------------


@dataclass
class Summary:
    rps: float
    rps_range: tuple[float, float]
    p50_us: float
    p99_us: float
    cpu_us: float
    requests: int
    jwks_fetches: int
    bad: int


def summarize(rounds: list[Round], mode: str, endpoint: str) -> Summary:
    mine = [r for r in rounds if r.mode == mode and r.endpoint == endpoint]
    requests = sum(r.requests for r in mine)
    return Summary(
        rps=requests / sum(r.seconds for r in mine),
        rps_range=(min(r.rps for r in mine), max(r.rps for r in mine)),
        p50_us=statistics.median(r.p50_us for r in mine),
        p99_us=statistics.median(r.p99_us for r in mine),
        cpu_us=sum(r.cpu_seconds for r in mine) * 1e6 / requests,
        requests=requests,
        jwks_fetches=sum(r.jwks_fetches for r in mine),
        bad=sum(r.non200 + r.errors for r in mine),
    )


def per_round(
    rounds: list[Round], mode: str, figure: Callable[[Round, Round], float], endpoint: str = "scoped"
) -> tuple[float, float, float]:
    """``figure(endpoint's run, public's run)`` of each round: the median, min and max over the rounds."""
    pairs: dict[int, dict[str, Round]] = {}
    for r in rounds:
        if r.mode == mode and r.endpoint in ("public", endpoint):
            pairs.setdefault(r.number, {})[r.endpoint] = r
    values = [figure(pair[endpoint], pair["public"]) for pair in pairs.values()]
    return statistics.median(values), min(values), max(values)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def tool_version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "?"


def machine_facts(loadgen: str) -> dict[str, str]:
    import cryptography
    import django
    import jwt
    import rest_framework

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gunicorn = tool_version([str(VENV_BIN / "gunicorn"), "--version"])
    commit = tool_version(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"])
    dirty = tool_version(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {
        "code": f"{commit}{' (with uncommitted changes)' if dirty not in ('?', 'not installed') else ''}",
        "CPU": f"{cpu}, {os.cpu_count()} cores (shared by the server, the load generator and anything else running)",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Django / DRF": f"{django.get_version()} / {rest_framework.VERSION}",
        "gunicorn": gunicorn.removeprefix("gunicorn (version ").rstrip(")"),
        "PyJWT / cryptography": f"{jwt.__version__} / {cryptography.__version__}",
        "wrk": tool_version(["wrk", "-v"]).split(" Copyright")[0] if shutil.which("wrk") else "not installed",
        "load generator": "wrk" if loadgen == "wrk" else "bench/pyload.py (the Python fallback), not wrk",
    }


def command_line() -> str:
    direct = " ".join([".venv/bin/python bench/run.py", *(shlex.quote(arg) for arg in sys.argv[1:])])
    return f"make bench  # runs: {direct}" if os.environ.get("MAKELEVEL") else direct


@dataclass
class Report:
    bench: Bench
    facts: dict[str, str]
    floor: dict[str, float]
    load: Round | None
    started: datetime.datetime
    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def render(self) -> str:
        self.header()
        self.per_endpoint()
        self.targets()
        self.floor_table()
        self.checks()
        return "\n".join(self.lines) + "\n"

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def header(self) -> None:
        args = self.bench.args
        threads = f", {args.worker_threads} threads each" if args.worker_class == "gthread" else ""
        extra = f" {args.gunicorn_args}" if args.gunicorn_args else ""
        settings = f", settings `{args.settings}`" if args.settings != "config.settings" else ""
        self.add(
            "# Benchmarks",
            "",
            f"Measured {self.started:%Y-%m-%d %H:%M} UTC by `bench/run.py`.",
            "",
            f"Command: `{command_line()}`",
            "",
            "| machine | |",
            "| --- | --- |",
            *[f"| {name} | {value} |" for name, value in self.facts.items()],
            "",
            f"Server: `gunicorn config.wsgi:application -w {args.workers}{extra}` "
            f"({args.worker_class} workers{threads}), "
            f"`DJANGO_DEBUG=false`{settings}, signing keys from a stand-in tenant on loopback. "
            f"Load: {args.connections} connections, {args.threads} wrk thread(s); {args.rounds} round(s) x "
            f"{len(ENDPOINTS)} runs x {args.duration:g} s with a repeated token (one per endpoint), then as many "
            "with first-seen tokens; each round runs public, scoped, private (the reverse in even rounds), so "
            "the endpoints are interleaved in time and scoped always runs next to public; first-seen tokens: "
            f"never sent before, {self.bench.pool_cursor - self.bench.warmup_tokens:,} distinct tokens validated, "
            f"after {self.bench.warmup_tokens:,} in the warm-up to fill the caches, from a "
            f"pool of {self.bench.pool_size:,} (the verified-token cache holds 4,096 per worker). Every request "
            "carries an `Authorization: Bearer` header, /api/public's too.",
            "",
        )

    def per_endpoint(self) -> None:
        self.add(
            "## Per endpoint",
            "",
            "req/s: all requests over all rounds' time (slowest and fastest round). p50, p99: median of the "
            "rounds. Server CPU: utime + stime of the gunicorn master and workers (/proc/<pid>/stat) over the "
            "requests served.",
            "",
            "| mode | endpoint | req/s (rounds' range) | p50 ms | p99 ms | server CPU us/req | requests "
            "| JWKS fetches | non-200 + errors |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        )
        for mode, mode_name in MODES.items():
            for endpoint, path in ENDPOINTS.items():
                x = summarize(self.bench.rounds, mode, endpoint)
                self.add(
                    f"| {mode_name} | {path} | {x.rps:,.0f} ({x.rps_range[0]:,.0f} to {x.rps_range[1]:,.0f}) | "
                    f"{x.p50_us / 1000:.2f} | {x.p99_us / 1000:.2f} | {x.cpu_us:.0f} | {x.requests:,} | "
                    f"{x.jwks_fetches} | {x.bad} |"
                )
        self.add("")

    def targets(self) -> None:
        rounds = self.bench.rounds
        figures = [
            ("throughput scoped / public", lambda s, p: s.rps / p.rps, "{:.3f}",
             (">=", TARGETS["ratio"]), (">=", TARGETS["ratio"])),
            ("auth CPU overhead, scoped - public (us/req)", lambda s, p: s.cpu_us - p.cpu_us, "{:.1f}",
             ("<=", TARGETS["overhead_repeated"]), ("<=", TARGETS["overhead_first_seen"])),
            ("p99 scoped / p99 public", lambda s, p: s.p99_us / p.p99_us, "{:.2f}",
             ("<=", TARGETS["p99_ratio"]), ("<=", TARGETS["p99_ratio"])),
        ]  # fmt: skip
        self.add(
            "## Against the targets",
            "",
            "Each figure is computed per round from the scoped and public runs of that round (adjacent in "
            "time, so drift on a shared machine cancels out); the table shows the median over the rounds, "
            "then the range. On a 2-core VM one run's server CPU varies by some 20 to 30 us/request, so a "
            "difference smaller than that is not resolved by one run; `bench/profile_request.py` measures "
            "the request path in-process, with less noise.",
            "",
            "| figure | repeated token | first-seen tokens | target |",
            "| --- | --- | --- | --- |",
        )
        for name, figure, fmt, *goals in figures:
            cells = []
            for mode, (op, goal) in zip(MODES, goals, strict=True):
                median, low, high = per_round(rounds, mode, figure)
                met = median >= goal if op == ">=" else median <= goal
                cells.append(f"{fmt.format(median)} ({fmt.format(low)} to {fmt.format(high)}) {verdict(met)}")
            target = (
                f"{goals[0][0]} {goals[0][1]:g}"
                if goals[0] == goals[1]
                else f"{goals[0][0]} {goals[0][1]:g} repeated, {goals[1][0]} {goals[1][1]:g} first-seen"
            )
            self.add(f"| {name} | {cells[0]} | {cells[1]} | {target} |")
        private = [per_round(rounds, mode, lambda s, p: s.cpu_us - p.cpu_us, "private") for mode in MODES]
        self.add(
            "| (reference) auth CPU overhead, private - public (us/req) | "
            + " | ".join(f"{m:.1f} ({lo:.1f} to {hi:.1f})" for m, lo, hi in private)
            + " | |",
            "",
        )

    def floor_table(self) -> None:
        f = self.floor
        self.add(
            "## The floor on this machine",
            "",
            "One call at a time in the benchmark process, median of thousands; a hot loop, so cheaper than the "
            "same work inside a request, where caches are cold.",
            "",
            "| operation | us |",
            "| --- | ---: |",
            f"| RS256 verify of one token (`cryptography`, RSA-2048 public key) | {f['verify']:.1f} |",
            f"| PyJWT `jwt.decode` of the same token (signature + exp, iat, aud, iss) | {f['pyjwt']:.1f} |",
            f"| project `TokenValidator.validate`, token not cached | {f['validator_first_seen']:.1f} |",
            f"| project `TokenValidator.validate`, distinct tokens, full cache (evicts) | "
            f"{f['validator_first_seen_evicting']:.1f} |",
            f"| project `TokenValidator.validate`, token cached | {f['validator_cached']:.2f} |",
            "",
        )

    def checks(self) -> None:
        bench, args, load = self.bench, self.bench.args, self.load
        rounds = bench.rounds
        ok = all(r.non200 == 0 and r.errors == 0 and not r.workers_changed for r in rounds)
        self.add("## Checks", "", "| check | result | |", "| --- | --- | --- |")
        self.add(
            f"| every response a 200, no socket errors or timeouts, no worker restarted | "
            f"{sum(r.non200 for r in rounds)} non-200, {sum(r.errors for r in rounds)} errors | {verdict(ok)} |"
        )
        reused = sum(r.wrapped for r in rounds if r.mode == "first-seen" and r.endpoint != "public")
        self.add(f"| first-seen runs that validate never resent a token | {reused} wraps | {verdict(reused == 0)} |")
        if load is not None:
            load_ok = load.non200 == 0 and load.errors == 0 and load.jwks_fetches == 0 and not load.workers_changed
            ok = ok and load_ok
            self.add(
                f"| load: {args.load_connections} connections x {args.load_seconds:g} s on /api/private-scoped "
                f"(repeated token) | {load.requests:,} requests, {load.rps:,.0f} req/s, p99 "
                f"{load.p99_us / 1000:.1f} ms, {load.non200} non-200, {load.errors} errors, "
                f"{load.jwks_fetches} JWKS fetches, workers {'restarted' if load.workers_changed else 'unchanged'} "
                f"| {verdict(load_ok)} |"
            )
        else:
            self.add("| load check | skipped (`--quick` or `--load-seconds 0`) | |")
        fetches = bench.tenant.fetches
        fetch_ok = fetches == args.workers
        self.add(
            f"| JWKS fetches in the whole run: one per worker ({args.workers}) | {fetches} | {verdict(fetch_ok)} |"
        )
        other = [r.other_cores for r in rounds]
        self.add(
            f"| other load on the machine during the runs (not server, not benchmark) | mean "
            f"{statistics.fmean(other):.2f} cores, max {max(other):.2f} | "
            f"{'quiet' if max(other) < 0.2 else 'shared: throughput figures are noisier'} |",
            "",
        )
        self.ok = ok and fetch_ok


# -- main ------------------------------------------------------------------------------


def warmup_tokens(args: argparse.Namespace) -> int:
    return QUICK_WARMUP_TOKENS if args.quick else WARMUP_TOKENS


def pool_size(args: argparse.Namespace) -> int:
    if args.pool:
        return args.pool
    # Room for 3,500 req/s in every first-seen run that validates (2 workers validate ~2,700 here).
    needed = warmup_tokens(args) + int(args.rounds * 2 * args.duration * 3500)
    return needed if args.quick else max(50_000, needed)


def start_server(args: argparse.Namespace, processes: Processes, tenant: StandInTenant) -> tuple[str, int, Path]:
    port = free_port()
    log = WORK / "gunicorn.log"
    command = gunicorn_command(args, port)
    print(f"Starting gunicorn {' '.join(command[1:])} (log: {log.relative_to(ROOT)}) ...", flush=True)
    with log.open("w") as log_file:
        server = processes.start(
            command, cwd=ROOT, env=server_env(tenant.jwks_url, args.settings), stdout=log_file, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    wait_until_serving(server, base_url, log)
    return base_url, server.pid, log


def benchmark(args: argparse.Namespace, processes: Processes, loadgen: str, pool_file: Path) -> tuple[str, bool]:
    started = datetime.datetime.now(datetime.UTC)
    key, jwks = new_key()
    size = pool_size(args)
    print(f"Minting {size:,} first-seen tokens into {pool_file.relative_to(ROOT)} ...", flush=True)
    minting = time.monotonic()
    extra, width = mint_pool(key, size, pool_file)
    print(f"  {time.monotonic() - minting:.1f} s; every token is {width} characters", flush=True)
    repeated = dict(zip(ENDPOINTS, extra, strict=True))
    print("Measuring the floor (in-process) ...", flush=True)
    with pool_file.open() as pool:
        sample = [pool.readline().strip() for _ in range(2000)]
    floor = measure_floor(key, jwks, repeated["scoped"], sample)
    tenant = StandInTenant(jwks).start()
    try:
        base_url, master, log = start_server(args, processes, tenant)
        for endpoint, token in repeated.items():
            status, body = get(base_url + ENDPOINTS[endpoint], token)
            if status != 200:
                raise RuntimeError(f"{ENDPOINTS[endpoint]} answered {status}: {body[:300]!r}\n{tail(log)}")
        bench = Bench(
            args, processes, tenant, base_url, master, loadgen, repeated, pool_file, width, size, warmup_tokens(args)
        )
        print("Warming up ...", flush=True)
        bench.warm_up()
        print(f"  workers {server_pids(master)[1:]}, JWKS fetches so far: {tenant.fetches}", flush=True)
        print(f"Measuring: {len(MODES)} modes x {args.rounds} rounds x {len(ENDPOINTS)} runs x {args.duration:g} s, "
              f"{args.connections} connections ...", flush=True)  # fmt: skip
        bench.measure()
        load = None
        if args.load_seconds > 0:
            print(f"Load check: {args.load_connections} connections x {args.load_seconds:g} s on "
                  f"{ENDPOINTS['scoped']} ...", flush=True)  # fmt: skip
            load = bench.run_load("scoped", "load", args.load_seconds, connections=args.load_connections)
            print(f"  {progress(load)}", flush=True)
        report = Report(bench, machine_facts(loadgen), floor, load, started)
        return report.render(), report.ok
    finally:
        tenant.stop()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the shell started us ignoring it
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    loadgen = "wrk" if args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk")) else "python"
    if loadgen == "python":
        why = "--loadgen python" if args.loadgen == "python" else "wrk is not installed (apt-get install wrk)"
        print(f"NOTE: {why}, so the load comes from bench/pyload.py, a much weaker Python load generator: "
              "its figures are not comparable with wrk's.", flush=True)  # fmt: skip
    WORK.mkdir(parents=True, exist_ok=True)
    processes = Processes()
    pool_file = WORK / "tokens.txt"
    try:
        report, ok = benchmark(args, processes, loadgen, pool_file)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        processes.stop_all()
        if not args.keep_work:
            pool_file.unlink(missing_ok=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print()
    print(report)
    print(f"Written to {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("\nInterrupted; every process the benchmark started has been stopped.", file=sys.stderr)
        sys.exit(130)
