"""``make bench``: throughput, latency and the server CPU that authentication costs (README, Performance).

The floor; the phases as whole requests through Django in a process of their own; under gunicorn as production
runs it (tests/support/servers.py), driven by ``wrk`` with bench/headers.lua; under one uvicorn worker serving
the async views of bench/async_urls.py. The report (docs/benchmarks.md; ``--quick``: bench/.work/) says how each
figure is made. Exit status 0 when every response had the expected status, no socket error occurred and no server
fetched the key set more than once per worker: a missed target is reported, not fatal. Needs ``wrk`` and
``redis-server`` (``apt-get install wrk redis-server``).

    make bench                          # full run, some minutes
    make bench BENCH_ARGS=--quick       # every phase, briefly: under a minute
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")  # where authn finds the project's directory

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402

from authn.errors import AuthnError  # noqa: E402
from authn.jose import b64url_decode  # noqa: E402
from authn.jwks import KeySetCache  # noqa: E402
from tests.support import servers  # noqa: E402
from tests.support.builders import key_policy, proof_validator, token_validator  # noqa: E402
from tests.support.dpop_client import ProofKey, b64url, compact_jws, segment  # noqa: E402
from tests.support.network import free_port  # noqa: E402
from tests.support.services import RedisServer  # noqa: E402
from tests.support.tenant import AUDIENCE, ISSUER, KID, TenantServer, start_tenant  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

WORK = ROOT / "bench" / ".work"
LUA = ROOT / "bench" / "headers.lua"
TOKEN_HEADER = {"alg": "RS256", "typ": "JWT", "kid": KID}
MAX_TOKEN_LENGTH = 8192  # AUTH0_MAX_TOKEN_LENGTH's default: the longest token the server reads
PATHS = {"public": "/api/public", "private": "/api/private", "scoped": "/api/private-scoped"}
ANONYMOUS = {"anon-objects": "{}-payload token", "anon-garbage": "max-length garbage"}
IN_PROCESS_HOST = "127.0.0.1:8000"  # the Host of the in-process requests, named by their DPoP proofs
ES256_FLOOR = "ES256 verify of a DPoP proof (`cryptography`, P-256): the ES256 verification floor"
WORKERS, THREADS = servers.GUNICORN_WORKERS, servers.GUNICORN_THREADS
# What a server runs (for a port) and its workers; uvicorn without reload, its access log on as gunicorn's.
GUNICORN = (servers.COMMANDS["gunicorn"], WORKERS)
UVICORN = (servers.uvicorn_command, 1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the API in one process, under gunicorn and uvicorn.")
    parser.add_argument("--quick", action="store_true", help="smoke run of every phase; report in bench/.work/")
    args = parser.parse_args(argv)
    # Rounds per phase, seconds per run, wrk connections in the rounds, seconds of the 64-connection load check.
    args.rounds, args.duration, args.connections, args.load_seconds = (1, 1, 4, 1) if args.quick else (6, 2, 4, 20)
    args.output = WORK / "benchmarks-quick.md" if args.quick else ROOT / "docs" / "benchmarks.md"
    return args


def token(key: rsa.RSAPrivateKey, subject: str, **extra: Any) -> str:
    """An Auth0-shaped access token signed by ``key``."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": f"auth0|{subject}", "aud": [AUDIENCE, ISSUER + "userinfo"], "iat": now,
              "exp": now + 4 * 3600, "azp": "bEnChCl1eNt0000000000000000000000",
              "scope": "openid profile email read:messages", **extra}  # fmt: skip
    return compact_jws(TOKEN_HEADER, claims, "RS256", key)


# Claims padding a valid token to about the longest the server reads, as an Action copying metadata makes.
LONG_CLAIMS = {"https://bench.example.com/metadata": "m" * (MAX_TOKEN_LENGTH * 3 // 4 - 900)}


def anonymous_tokens() -> dict[str, str]:
    """The worst tokens nobody signed: as long as the server reads, refused only at the signature."""
    header = segment(TOKEN_HEADER)  # names the tenant's key, so the token gets as far as its signature
    signature = b64url(b"\0" + secrets.token_bytes(255))  # below any 2048-bit modulus: a whole RSA verification
    room = (MAX_TOKEN_LENGTH - len(header) - len(signature) - 2) * 3 // 4  # payload bytes that fit
    objects = "[" + ",".join(["{}"] * ((room - 1) // 3)) + "]"
    return {
        "anon-objects": f"{header}.{b64url(objects.encode())}.{signature}",
        "anon-garbage": f"{header}.{b64url(secrets.token_bytes(room))}.{signature}",
    }


_inherited: list[Callable[[Any], Any]] = []  # what the processes ``forked`` starts call: set just before they fork


def _call_inherited(argument: Any) -> Any:
    return _inherited[0](argument)


def forked(function: Callable[[Any], Any], arguments: list[Any], processes: int) -> list[Any]:
    """``function`` of each of ``arguments`` in ``processes`` forked processes, which inherit ``function`` and
    all it refers to: only the arguments and the results are pickled."""
    _inherited[:] = [function]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_call_inherited, arguments))


@dataclass
class Pool:
    """Valid tokens never sent before, each handed out once, minted on every core as they are needed."""

    key: rsa.RSAPrivateKey
    extra: dict[str, Any]  # claims each token has besides its own subject
    tokens: list[str] = field(default_factory=list)
    used: int = 0

    def take(self, count: int) -> list[str]:
        """``count`` Authorization header values."""
        first, missing = len(self.tokens), self.used + count - len(self.tokens)
        chunks = [range(start, min(start + 1000, first + missing)) for start in range(first, first + missing, 1000)]
        if chunks:
            self.tokens += itertools.chain.from_iterable(forked(self.mint, chunks, os.cpu_count() or 1))
        self.used += count
        return [f"Bearer {token}" for token in self.tokens[self.used - count : self.used]]

    def mint(self, indices: range) -> list[str]:
        return [token(self.key, f"bench{index:010d}", **self.extra) for index in indices]


class Credentials:
    """Every key and token the phases send."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.dpop_key = ProofKey()
        self.bearer = {name: token(self.key, f"bench-{name}") for name in PATHS}  # one per endpoint
        self.dpop = token(self.key, "bench-dpop", cnf={"jkt": self.dpop_key.thumbprint})
        self.anonymous = anonymous_tokens()
        self.pool, self.long_pool = Pool(self.key, {}), Pool(self.key, LONG_CLAIMS)  # long: nearly the maximum

    def proofs(self, url: str, count: int) -> list[str]:
        """``count`` requests with the bound token, each with a new proof for ``GET url``."""
        return [f"DPoP {self.dpop}\t{self.dpop_key.proof('GET', url, token=self.dpop)}" for _ in range(count)]


def median_us(operation: Callable[[], object], runs: int) -> float:
    """One call's median time in us, over ``runs`` calls after ``runs // 10`` to warm up; garbage collection on."""
    timeit.repeat(operation, "gc.enable()", number=1, repeat=runs // 10)
    return statistics.median(timeit.repeat(operation, "gc.enable()", number=1, repeat=runs)) * 1e6


def measure_floor(credentials: Credentials, runs: int) -> dict[str, float]:
    bearer, url = credentials.bearer["scoped"], "http://127.0.0.1:8000/api/private-scoped"
    message, _, signature = bearer.rpartition(".")
    rsa_signature, rsa_public = b64url_decode(signature), credentials.key.public_key()
    proof = credentials.proofs(url, 1)[0].partition("\t")[2]
    proof_input = proof.rpartition(".")[0].encode()
    ec_key = credentials.dpop_key.private_key
    ec_public, ec_signature = ec_key.public_key(), ec_key.sign(proof_input, ec.ECDSA(hashes.SHA256()))  # DER
    tenant = start_tenant(credentials.key)
    keys = KeySetCache(ISSUER, jwks_url=tenant.jwks_url, policy=key_policy())
    keys.get_key(KID)  # fetched once, here: the tenant can go
    tenant.stop()
    uncached, cached = (
        token_validator(issuers={ISSUER: keys}, audiences=[AUDIENCE], cache_size=size) for size in (0, 4096)
    )
    proofs = proof_validator()

    def refuse_anonymous() -> None:
        with contextlib.suppress(AuthnError):
            uncached.validate(credentials.anonymous["anon-objects"])

    return {
        "RS256 verify of one token (`cryptography`, RSA-2048)": median_us(lambda: rsa_public.verify(
            rsa_signature, message.encode(), padding.PKCS1v15(), hashes.SHA256()), runs),
        ES256_FLOOR: median_us(lambda: ec_public.verify(ec_signature, proof_input, ec.ECDSA(
            hashes.SHA256())), runs),
        "project `TokenValidator.validate`, token not cached": median_us(lambda: uncached.validate(bearer), runs),
        "project `TokenValidator.validate`, token cached": median_us(lambda: cached.validate(bearer), runs * 4),
        "project `TokenValidator.validate` refusing the {}-payload token": median_us(refuse_anonymous, runs),
        "project DPoP `ProofValidator.validate`, one proof": median_us(lambda: proofs.validate(
            proof, method="GET", url=url, access_token=credentials.dpop), runs),
    }  # fmt: skip


def proc_stat(pid: int) -> list[str]:
    """Fields 3 (state) onwards of /proc/<pid>/stat; empty once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime (fields 14 and 15) of ``pids``, every thread included."""
    return sum(int(f[11]) + int(f[12]) for f in map(proc_stat, pids) if f) / os.sysconf("SC_CLK_TCK")


def others_seconds() -> float:
    """CPU time every process on the machine used (user, nice, system, irq, softirq, steal), less this process's
    (the tenant runs in it) and its finished children's (wrk)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK") - sum(os.times()[:4])


@dataclass
class Server:
    """A server's processes (a gunicorn master and its workers, or one uvicorn), the stand-in tenant that only
    they fetch keys from, and the fastest req/s an authenticating run reached on it."""

    name: str
    workers: int
    process: servers.Server
    tenant: TenantServer
    rate: float = 0.0

    def pids(self) -> list[int]:
        main = self.process.process.pid
        every = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
        return [main, *sorted(pid for pid in every if proc_stat(pid)[1:2] == [str(main)])]

    def lines_for(self, seconds: int, margin: float = 2.0) -> int:
        """Requests a run may send; wide, as the load of a shared machine changes: a resent proof is refused."""
        return int(seconds * self.rate * margin) + 100

    def fetched(self) -> bool:
        """Whether each worker has fetched the keys, asking /readyz once more: one request at a time, as a burst
        at a cold worker would find AUTH0_JWKS_MAX_WAITING requests waiting on its fetch, the rest 503."""
        with contextlib.suppress(OSError):
            self.process.get("/readyz")
        return self.tenant.fetches >= self.workers


@dataclass(frozen=True)
class Spec:
    """One kind of request: ``lines(count)``, header values for ``count`` requests (one line: sent every time)."""

    label: str
    path: str
    auth: str
    lines: Callable[[int], list[str]]
    expect: int = 200
    fresh: bool = False  # each line may be sent once only: a wrap resends one

    def sent(self, count: int) -> Iterator[str]:
        """The lines of ``count`` requests in turn: a fresh spec's each once, another's over and over."""
        return iter(self.lines(count)) if self.fresh else itertools.cycle(self.lines(count))


@dataclass
class Run:
    """One run of a spec: wrk's figures and the server's CPU; in one process, the CPU alone."""

    phase: str
    round: int  # 0: outside the rounds
    spec: Spec
    requests: int
    cpu_seconds: float
    unexpected: int = 0  # responses whose status was not ``spec.expect``
    seconds: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    other_cores: float = 0.0  # CPU used by neither the server nor this benchmark, in cores
    fetches: int = 0
    errors: int = 0  # socket errors and timeouts
    wraps: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds * 1e6 / max(1, self.requests)


@dataclass
class Bench:
    """One benchmark: its settings and credentials, the runs so far and the servers they ran on."""

    args: argparse.Namespace
    credentials: Credentials
    runs: list[Run] = field(default_factory=list)  # measured, in rounds
    unmeasured: list[Run] = field(default_factory=list)  # warm-up, cache filling, load check
    servers: list[Server] = field(default_factory=list)

    def run(
        self, server: Server, spec: Spec, phase: str, number: int, *, seconds: int = 0, connections: int = 0
    ) -> Run:
        """One wrk run of ``spec`` (``number`` 0: outside the rounds): wrk's figures, and the CPU time of the
        server and of the rest of the machine."""
        seconds, connections = seconds or self.args.duration, connections or self.args.connections
        headers = WORK / "headers.txt"
        headers.write_text("\n".join(spec.lines(server.lines_for(seconds))) + "\n", encoding="ascii")
        env = os.environ | {"BENCH_HEADERS": str(headers), "BENCH_EXPECT": str(spec.expect)}
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA)]
        pids, fetches, url = server.pids(), server.tenant.fetches, server.process.url + spec.path
        before = (cpu_seconds(pids), others_seconds())
        done = subprocess.run([*command, url], env=env, capture_output=True, text=True, check=False)
        time.sleep(0.1)  # the server finishes the requests in flight when wrk stopped
        server_cpu, others = (a - b for a, b in zip((cpu_seconds(pids), others_seconds()), before, strict=True))
        found = [line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
        if done.returncode != 0 or not found:
            raise RuntimeError(f"wrk failed (status {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        result = json.loads(found[0].removeprefix("BENCH_RESULT ")) | {"fetches": server.tenant.fetches - fetches}
        other_cores = max(0.0, others - server_cpu) / (result["seconds"] + 0.1)
        run = Run(phase, number, spec, cpu_seconds=server_cpu, other_cores=other_cores, **result)
        (self.runs if number else self.unmeasured).append(run)
        if spec.path != PATHS["public"]:
            server.rate = max(server.rate, run.rps)
        print(f"  {phase:18} {number or '-':>2} {spec.label:12} {run.rps:7.0f} req/s  {run.cpu_us:5.0f} CPU us/req")
        return run

    @contextlib.contextmanager
    def serving(self, name: str, server: tuple[Callable[[int], list[str]], int], **env: str) -> Iterator[Server]:
        """``server`` (a command for a port, and its workers) run as tests/support/servers.py runs servers, with
        ``env`` and a stand-in tenant of its own, once each worker has fetched the keys; stopped on the way out."""
        (command, workers), tenant, port = server, start_tenant(self.credentials.key), free_port()
        process = servers.start(command(port), servers.tenant_env(tenant) | env, WORK / f"{name}.log", port, group=True)
        self.servers.append(started := Server(name, workers, process, tenant))
        try:
            wait_for(started.fetched, timeout=10)
            yield started
        finally:
            servers.halt(started.process)  # the server's process group: its workers too
            tenant.stop()

    def rounds(self, server: Server, phase: str, specs: list[Spec]) -> None:
        """Each round runs ``specs`` in order, the reverse every other round."""
        for number in range(1, self.args.rounds + 1):
            for spec in specs if number % 2 else specs[::-1]:
                self.run(server, spec, phase, number)

    def warm_up(self, server: Server, specs: list[Spec]) -> None:
        """Each spec for a second at 16 connections, so that every worker takes some; the first (a Bearer token)
        twice: the first run of a new server is slow, and the rate of the second sizes the fresh proofs after."""
        for spec in [specs[0], *specs]:
            self.run(server, spec, "warm-up", 0, seconds=1, connections=16)

    def first_seen(self, server: Server, phase: str, labels: tuple[str, ...] = ()) -> None:
        """The rounds of ``phase`` (the first-seen specs of ``labels``, or all) on full verified-token caches."""
        fill = (500 if self.args.quick else 6000) * server.workers  # a worker's cache holds 4,096
        pool = self.credentials.pool
        filling = Spec("scoped", PATHS["scoped"], "Bearer, filling the caches", lambda _count: pool.take(fill))
        self.run(server, filling, "fill-caches", 0, seconds=max(1, round(fill / server.rate)))
        block = server.lines_for(self.args.duration, margin=1.25)  # slower than the repeated token; resent: a 200
        specs = first_seen_specs(self.credentials, block)
        self.rounds(server, phase, [spec for spec in specs if not labels or spec.label in labels])


def same_lines(*lines: str) -> Callable[[int], list[str]]:
    return lambda _count: list(lines)


def bearer_specs(credentials: Credentials, *names: str) -> list[Spec]:
    auth = "Bearer, repeated token"
    return [Spec(name, PATHS[name], auth, same_lines(f"Bearer {credentials.bearer[name]}")) for name in names]


def anonymous_specs(credentials: Credentials) -> list[Spec]:
    """The same token on every request: a refusal is never cached."""
    return [Spec(label, PATHS["private"], what, same_lines(f"Bearer {credentials.anonymous[label]}"), 401)
            for label, what in ANONYMOUS.items()]  # fmt: skip


def first_seen_specs(credentials: Credentials, block: int) -> list[Spec]:
    """/api/public validates nothing: it may resend tokens; the others take ``block`` new ones per run."""
    auth, pool, long_pool = "Bearer, first-seen tokens", credentials.pool, credentials.long_pool
    public = Spec("public", PATHS["public"], "Bearer, pool tokens", same_lines(*pool.take(100)))
    validating = [
        Spec(name, PATHS[name], auth, lambda _count: pool.take(block), fresh=True) for name in ("scoped", "private")
    ]
    # The same length as the worst anonymous tokens: /api/public with one (what reading 8 KiB costs gunicorn
    # and Django), and valid first-seen tokens that long.
    long_header = f"Bearer {credentials.anonymous['anon-objects']}"
    same_length = [
        Spec("public-long", PATHS["public"], "Bearer, an 8 KiB header", same_lines(long_header)),
        Spec("private-long", PATHS["private"], f"{auth}, 8 KiB", lambda _count: long_pool.take(block), fresh=True),
    ]
    return [public, *validating, *anonymous_specs(credentials), *same_length]


def dpop_specs(credentials: Credentials, server_url: str) -> list[Spec]:
    """/api/public with DPoP headers (reused: it validates nothing), the Bearer token, a DPoP request."""
    public = credentials.proofs(server_url + PATHS["public"], 200)
    return [
        Spec("public", PATHS["public"], "DPoP headers", same_lines(*public)),
        *bearer_specs(credentials, "scoped"),
        Spec("dpop", PATHS["scoped"], "DPoP, fresh proof per request",
             lambda count: credentials.proofs(server_url + PATHS["scoped"], count), fresh=True),
    ]  # fmt: skip


def server_phases(bench: Bench) -> None:
    """gunicorn without ``REDIS_URL``: repeated, dpop-locmem, first-seen with the worst anonymous, the load check;
    dpop-redis on a second one whose ``REDIS_URL`` names a redis-server started for it; then one uvicorn worker
    serving the async views of bench/async_urls.py, which verify with ``authn.averify``: uvicorn repeated and
    uvicorn first-seen."""
    credentials, redis = bench.credentials, RedisServer(shutil.which("redis-server") or "redis-server", WORK)
    repeated = bearer_specs(credentials, "public", "scoped", "private")
    with bench.serving("locmem", GUNICORN) as server:
        dpop = dpop_specs(credentials, server.process.url)
        bench.warm_up(server, [repeated[1], dpop[-1], anonymous_specs(credentials)[0]])
        bench.rounds(server, "repeated", repeated)
        bench.rounds(server, "dpop-locmem", dpop)
        bench.first_seen(server, "first-seen")
        bench.run(server, repeated[1], "load", 0, seconds=bench.args.load_seconds, connections=64)
    try:
        redis.start()
        with bench.serving("redis", GUNICORN, REDIS_URL=redis.url) as server:
            dpop = dpop_specs(credentials, server.process.url)
            bench.warm_up(server, dpop[1:])
            bench.rounds(server, "dpop-redis", dpop)
    finally:
        redis.stop()
    with bench.serving("uvicorn", UVICORN, DJANGO_SETTINGS_MODULE="bench.async_settings") as server:
        bench.warm_up(server, repeated[1:2])
        bench.rounds(server, "uvicorn repeated", repeated[:2])
        bench.first_seen(server, "uvicorn first-seen", ("public", "scoped"))


def in_process_phases(bench: Bench) -> None:
    """The repeated, first-seen and DPoP phases as whole requests through Django's WSGI handler, in a process
    forked for them with the servers' environment: what a request costs the server without gunicorn, sockets
    or wrk, which on a shared 2-core machine blur differences of tens of us. Runs: ``in-process <phase>``."""
    args, credentials = bench.args, bench.credentials
    per_round, fill = (100, 200) if args.quick else (2000, 4096)  # fill: the verified-token cache holds 4,096
    fresh = args.rounds * per_round + 1  # each spec's first request precedes the measured rounds
    phases = {
        "in-process repeated": bearer_specs(credentials, "public", "scoped", "private"),
        "in-process first-seen": first_seen_specs(credentials, fresh),
        "in-process dpop": dpop_specs(credentials, f"http://{IN_PROCESS_HOST}"),
    }
    sent = {phase: [spec.sent(fresh) for spec in specs] for phase, specs in phases.items()}
    fill_lines, tenant = credentials.pool.take(fill), start_tenant(credentials.key)
    env = servers.tenant_env(tenant)
    print(f"In-process: {args.rounds} round(s) of {per_round} requests of each kind ...", flush=True)
    try:
        (results,) = forked(
            lambda _: serve_in_process(env, phases, sent, fill_lines, per_round=per_round, rounds=args.rounds), [0], 1
        )
    finally:
        tenant.stop()
    bench.runs += [
        Run(phase, number, phases[phase][index], per_round, *measured) for phase, index, number, *measured in results
    ]


def serve_in_process(
    env: dict[str, str],
    phases: dict[str, list[Spec]],
    sent: dict[str, list[Iterator[str]]],
    fill: list[str],
    *,
    per_round: int,
    rounds: int,
) -> list[tuple[str, int, int, float, int]]:
    """In the forked process: Django with ``env`` (its log in bench/.work/in-process.log); each spec's first
    request, then the ``fill`` tokens (as in a busy worker); then each phase's rounds: ``per_round`` requests of
    each spec, one of each in turn (the reverse order every other turn). ``(phase, spec index, round, CPU
    seconds, unexpected statuses)`` for each spec and round, the CPU this process's, garbage collection included."""
    os.environ.update(env)
    os.dup2(os.open(WORK / "in-process.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    from django.core.wsgi import get_wsgi_application
    from django.test import RequestFactory

    application, factory = get_wsgi_application(), RequestFactory()

    def environ(path: str, line: str) -> dict[str, Any]:
        authorization, _, proof = line.partition("\t")
        headers = {"Host": IN_PROCESS_HOST, "Authorization": authorization} | ({"DPoP": proof} if proof else {})
        return factory.get(path, headers=headers).environ

    for phase, specs in phases.items():  # one request each before measuring: imports, the key set fetch
        for spec, lines in zip(specs, sent[phase], strict=True):
            serve(application, environ(spec.path, next(lines)))
    for line in fill:
        serve(application, environ(PATHS["scoped"], line))
    results = []
    for (phase, specs), number in itertools.product(phases.items(), range(1, rounds + 1)):
        cpu_ns, unexpected, order = [0] * len(specs), [0] * len(specs), range(len(specs))
        for turn in range(per_round):
            for index in order if turn % 2 else reversed(order):
                request = environ(specs[index].path, next(sent[phase][index]))
                started = time.process_time_ns()
                status = serve(application, request)
                cpu_ns[index] += time.process_time_ns() - started
                unexpected[index] += status != specs[index].expect
        results += [(phase, index, number, cpu_ns[index] / 1e9, unexpected[index]) for index in order]
    return results


def serve(application: Callable[..., Any], request: dict[str, Any]) -> int:
    """The status of a WSGI ``application``'s answer to ``request``, its body read through."""
    status: list[str] = []
    body = application(request, lambda line, _headers, _exc_info=None: status.append(line))
    for _chunk in body:
        pass
    body.close()
    return int(status[0][:3])


@dataclass(frozen=True)
class Figure:
    """A figure computed per round from that round's runs (by label), held against a target if it has one."""

    name: str
    phase: str
    value: Callable[[dict[str, Run]], float]
    comparison: str = ""  # ">=", "<=", "<"; "" for a figure shown for reference
    target: float = 0.0
    goal: str = ""  # how the target reads, if not "<comparison> <target>"

    def judged(self, value: float) -> str:
        """The target and whether ``value`` meets it, as two table cells (empty for a reference figure)."""
        if not self.comparison:
            return " | "
        met = {">=": value >= self.target, "<=": value <= self.target, "<": value < self.target}[self.comparison]
        return f"{self.goal or f'{self.comparison} {self.target:g}'} | {verdict(met)}"


def ratio(a: str, b: str, measure: str) -> Callable[[dict[str, Run]], float]:
    return lambda runs: getattr(runs[a], measure) / getattr(runs[b], measure)


def cpu_difference(a: str, b: str) -> Callable[[dict[str, Run]], float]:
    return lambda runs: runs[a].cpu_us - runs[b].cpu_us


def anonymous_figures(phase: str) -> list[Figure]:
    """The worst anonymous tokens against first-seen valid ones: ~700 characters, the same length, and in auth
    CPU alone (each minus /api/public with the same header: what gunicorn and Django spend reading it)."""
    found, cpu = [], cpu_difference
    for label, what in ANONYMOUS.items():
        found += [
            Figure(f"{phase}: {what} - first-seen valid token (~700 chars), /api/private (CPU us/req)", phase,
                   cpu(label, "private"), "<=", 0.0),
            Figure(f"{phase}: {what} - first-seen valid token of the same length, /api/private", phase,
                   cpu(label, "private-long"), "<=", 0.0),
            Figure(f"{phase}: auth CPU, ({what} - public, same header) - (first-seen - public)", phase,
                   lambda runs, label=label: (runs[label].cpu_us - runs["public-long"].cpu_us)
                   - (runs["private"].cpu_us - runs["public"].cpu_us), "<=", 0.0),
        ]  # fmt: skip
    return found


def cpu_figures(phase: str, most: float) -> list[Figure]:
    return [
        Figure(f"{phase}: auth CPU scoped - public (us/req)", phase, cpu_difference("scoped", "public"), "<=", most),
        Figure(f"{phase}: (reference) auth CPU private - public (us/req)", phase, cpu_difference("private", "public")),
    ]


def uvicorn_figures(phase: str) -> list[Figure]:  # for reference: no target
    return [
        Figure(f"{phase}: throughput scoped / public", phase, ratio("scoped", "public", "rps")),
        Figure(f"{phase}: p99 scoped / p99 public", phase, ratio("scoped", "public", "p99_us")),
        Figure(f"{phase}: auth CPU scoped - public (us/req)", phase, cpu_difference("scoped", "public")),
    ]


def dpop_figure(phase: str, es256_floor: float) -> Figure:
    name = f"{phase}: auth CPU a DPoP request adds: DPoP scoped - Bearer scoped (us/req)"
    goal = f"< 2 x {es256_floor:.1f} (ES256 floor)"
    return Figure(name, phase, cpu_difference("dpop", "scoped"), "<", 2 * es256_floor, goal)


def figures(es256_floor: float) -> list[Figure]:
    found = []
    for phase, most in (("repeated", 15.0), ("first-seen", 80.0)):
        found += [
            Figure(f"{phase}: throughput scoped / public", phase, ratio("scoped", "public", "rps"), ">=", 0.95),
            Figure(f"{phase}: p99 scoped / p99 public", phase, ratio("scoped", "public", "p99_us"), "<=", 1.2),
            *cpu_figures(phase, most),
            *uvicorn_figures(f"uvicorn {phase}"),
        ]
    found += anonymous_figures("first-seen")
    for phase in ("dpop-locmem", "dpop-redis"):
        found += [
            Figure(f"{phase}: throughput DPoP scoped / public", phase, ratio("dpop", "public", "rps")),
            dpop_figure(phase, es256_floor),
        ]
    return [
        *found,
        *cpu_figures("in-process repeated", 15.0),
        *cpu_figures("in-process first-seen", 80.0),
        *anonymous_figures("in-process first-seen"),
        dpop_figure("in-process dpop", es256_floor),
    ]


def number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def machine_facts() -> dict[str, str]:
    def output(*command: str) -> str:
        with contextlib.suppress(OSError):
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
        return ""

    cpu = output("sh", "-c", "grep -m1 'model name' /proc/cpuinfo").partition(":")[2].strip()
    changed = output("git", "-C", str(ROOT), "status", "--porcelain", "-uno", "--", ".", ":!docs/benchmarks.md")
    dirty = " (with uncommitted changes)" if changed else ""  # the previous report is not a change to the code
    versions = [version(name) for name in ("django", "djangorestframework", "gunicorn", "uvicorn", "cryptography")]
    redis = output("redis-server", "--version").split(" sha=")[0]
    return {
        "code": output("git", "-C", str(ROOT), "log", "-1", "--format=%h %s") + dirty,
        "CPU": f"{cpu}, {os.cpu_count()} cores (shared by the server, wrk and anything else running)",
        "OS / Python": f"{platform.system()} {platform.release()} / {platform.python_version()}",
        "Django / DRF / gunicorn / uvicorn / cryptography": " / ".join(versions),
        "wrk / redis-server": f"{output('wrk', '-v').split(' Copyright')[0]} / {redis}",
    }


def header(bench: Bench, started: datetime.datetime) -> list[str]:
    args, credentials = bench.args, bench.credentials
    command = " ".join([".venv/bin/python bench/run.py", *sys.argv[1:]])
    return [
        "# Benchmarks", "", f"Measured {started:%Y-%m-%d %H:%M} UTC by `{command}`.", "", "| machine | |",
        "| --- | --- |", *[f"| {name} | {value} |" for name, value in machine_facts().items()], "",
        f"Server: `gunicorn config.wsgi:application --workers {WORKERS} --threads {THREADS}` run from the "
        "repository root, so gunicorn.conf.py applies (gthread workers, access log), `DJANGO_DEBUG=false`, a "
        "random secret key, signing keys from a stand-in tenant on loopback; dpop-redis on a second such server "
        "with `REDIS_URL` set (Redis's own CPU is not in the server CPU). uvicorn: `python -m uvicorn config.asgi:"
        "application --workers 1` (access log on) with `DJANGO_SETTINGS_MODULE=bench.async_settings`: async views "
        "(bench/async_urls.py) at the same paths, /api/private-scoped's verifying with `authn.averify`. "
        f"Load: wrk, {args.connections} connections; each phase runs {args.rounds} round(s) of its requests, "
        f"{args.duration} s each, in the reverse order every other round. First-seen tokens were never sent "
        f"before ({credentials.pool.used:,} in all), each server's verified-token caches (4,096 per worker) "
        f"filled with them first. The worst anonymous tokens are {MAX_TOKEN_LENGTH} characters "
        "at most, their header naming the tenant's key, their signature made by no key, the same one on every "
        "request (refusals are not cached). DPoP: a token bound to a P-256 key, a new proof for each request, "
        "made just before its run.", "",
    ]  # fmt: skip


def request_tables(bench: Bench) -> list[str]:
    """Per phase and request kind: under gunicorn and uvicorn, then in one process."""
    gunicorn = [
        "## Per phase and request", "",
        "req/s: all requests over all rounds' time (slowest to fastest round). p50, p99: median of the rounds. "
        "Server CPU: utime + stime of the gunicorn master and workers, or of the uvicorn process, over the "
        "requests served.", "",
        "| phase | request | req/s (range) | p50 ms | p99 ms | server CPU us/req | requests | JWKS fetches "
        "| unexpected status + errors |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    in_process = [
        "## In one process", "",
        "The same phases as whole requests through Django's WSGI handler (in a process of their own, the servers' "
        "settings and tenant), without gunicorn, sockets or wrk; within a phase one request of each kind in turn. "
        "CPU of the process per request: the median of the rounds (range). The verified-token cache was filled "
        "with first-seen tokens first (4,096 in a full run: all it holds).", "",
        "| phase | request | CPU us/req (range) | requests | unexpected status |", "| --- | --- | ---: | ---: | ---: |",
    ]  # fmt: skip
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in bench.runs:
        groups.setdefault((run.phase, run.spec.label), []).append(run)
    for runs in groups.values():
        spec, requests, cpu = runs[0].spec, sum(run.requests for run in runs), [run.cpu_us for run in runs]
        kind = f"| {runs[0].phase} | {spec.path} ({spec.auth}) |"
        if runs[0].phase.startswith("in-process"):
            in_process.append(f"{kind} {statistics.median(cpu):.1f} ({min(cpu):.1f} to {max(cpu):.1f}) | "
                              f"{requests:,} | {sum(run.unexpected for run in runs)} |")  # fmt: skip
            continue
        gunicorn.append(
            f"{kind} {requests / sum(run.seconds for run in runs):,.0f} "
            f"({min(run.rps for run in runs):,.0f} to {max(run.rps for run in runs):,.0f}) | "
            f"{statistics.median(run.p50_us for run in runs) / 1000:.2f} | "
            f"{statistics.median(run.p99_us for run in runs) / 1000:.2f} | "
            f"{sum(run.cpu_seconds for run in runs) * 1e6 / requests:.0f} | {requests:,} | "
            f"{sum(run.fetches for run in runs)} | {sum(run.unexpected + run.errors for run in runs)} |"
        )
    return [*gunicorn, "", *in_process, ""]


def against_targets(bench: Bench, floor: dict[str, float]) -> list[str]:
    lines = [
        "## Against the targets", "",
        "Each figure is computed per round from runs adjacent in time, so drift on a shared machine cancels "
        "out: the median over the rounds, then their range. On a 2-core VM one run's server CPU varies by "
        "some 20 to 30 us/request: a smaller difference is not resolved by one run. The uvicorn figures (the "
        "async views under one uvicorn worker) have no target: they stand beside gunicorn's to compare.", "",
        "| figure | median (range) | target | |", "| --- | --- | --- | --- |",
    ]  # fmt: skip
    rounds: dict[str, dict[int, dict[str, Run]]] = {}  # the runs of each phase and round, by label
    for run in bench.runs:
        rounds.setdefault(run.phase, {}).setdefault(run.round, {})[run.spec.label] = run
    for figure in figures(floor[ES256_FLOOR]):
        if values := [figure.value(labels) for labels in rounds.get(figure.phase, {}).values()]:
            median = statistics.median(values)
            cell = f"{number(median)} ({number(min(values))} to {number(max(values))})"
            lines.append(f"| {figure.name} | {cell} | {figure.judged(median)} |")
    return [*lines, ""]


def floor_table(floor: dict[str, float]) -> list[str]:
    return ["## The floor on this machine", "", "One call at a time in the benchmark process, median of many: a hot "
            "loop, cheaper than the same work inside a request.", "", "| operation | us |", "| --- | ---: |",
            *[f"| {name} | {value:.1f} |" for name, value in floor.items()], ""]  # fmt: skip


def checks(bench: Bench) -> tuple[list[str], bool]:
    """The checks' table, and whether the run passed: every status expected, no socket error, no key refetch."""
    every = [*bench.runs, *bench.unmeasured]
    unexpected, errors = sum(run.unexpected for run in every), sum(run.errors for run in every)
    wraps = sum(run.wraps for run in bench.runs if run.spec.fresh)
    fetches = {server.name: server.tenant.fetches for server in bench.servers}
    fetch_ok = all(server.tenant.fetches <= server.workers for server in bench.servers)
    logs = "".join(server.process.log_text() for server in bench.servers)
    clean = "Traceback" not in logs and '" 500 ' not in logs
    other = [run.other_cores for run in every if not run.phase.startswith("in-process")]
    load = next(run for run in bench.unmeasured if run.phase == "load")
    load_ok = load.unexpected == load.errors == load.fetches == 0
    return [
        "## Checks", "", "| check | result | |", "| --- | --- | --- |",
        f"| every response had the expected status (200; 401 for anonymous tokens), no socket error | "
        f"{unexpected} unexpected, {errors} errors | {verdict(unexpected == errors == 0)} |",
        f"| no token or proof resent where each must be new | {wraps} wraps | {verdict(wraps == 0)} |",
        f"| key set fetches per server: at most one per worker (gunicorn {WORKERS}, uvicorn 1; a restarted worker "
        f"fetches again) | {', '.join(f'{name}: {count}' for name, count in fetches.items())} | {verdict(fetch_ok)} |",
        f"| load: 64 connections x {load.seconds:.0f} s on /api/private-scoped | {load.requests:,} requests, "
        f"{load.rps:,.0f} req/s, p99 {load.p99_us / 1000:.1f} ms, {load.unexpected} unexpected, "
        f"{load.errors} errors, {load.fetches} key set fetches | {verdict(load_ok)} |",
        f"| server logs: no traceback, no 500 | {'clean' if clean else 'see bench/.work/*.log'} | {verdict(clean)} |",
        f"| other load on the machine during the runs | mean {statistics.fmean(other):.2f} cores, max "
        f"{max(other):.2f} | {'quiet' if max(other) < 0.2 else 'shared: figures are noisier'} |", "",
    ], unexpected == errors == 0 and fetch_ok  # fmt: skip


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if missing := [name for name in ("wrk", "redis-server") if shutil.which(name) is None]:
        print(f"make bench needs wrk and redis-server: apt-get install {' '.join(missing)}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))  # stop everything on the way out
    WORK.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    print("Generating keys and tokens, measuring the floor in-process ...", flush=True)
    bench = Bench(args, Credentials())
    floor = measure_floor(bench.credentials, 500 if args.quick else 5000)
    in_process_phases(bench)
    server_phases(bench)
    check_lines, ok = checks(bench)
    text = "\n".join([*header(bench, started), *request_tables(bench),
                      *against_targets(bench, floor), *floor_table(floor), *check_lines])  # fmt: skip
    args.output.write_text(text, encoding="utf-8")
    print(f"\n{text}\nWritten to {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
