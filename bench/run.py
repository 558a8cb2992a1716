"""``make bench``: throughput, latency and the server CPU that authentication costs (README, Performance).

The floor first, in this process (RS256 and ES256 verification, ``TokenValidator``, ``ProofValidator``); then
the repeated, first-seen and DPoP phases as whole requests through Django in one process (bench/in_process.py);
then the same under gunicorn as production runs it (tests/support/servers.py), driven by ``wrk`` with
bench/headers.lua, DPoP again on a second server with a redis-server of its own. Each phase runs rounds of its
requests, in the reverse order every other round, so that drift on a shared machine cancels out; the server's
CPU time (master and workers, from /proc) is read around every run. The report goes to stdout and
docs/benchmarks.md (``--quick``: bench/.work/). Exit status 0 when every response had the expected status, no
socket error occurred and no server fetched the key set more than once per worker: a missed target is
reported, not fatal. ``wrk`` is required (``apt-get install wrk``).

    make bench                          # full run, some minutes
    make bench BENCH_ARGS=--quick       # every phase, briefly: under a minute
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
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
from collections.abc import Callable
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
from authn.tokens import TokenValidator  # noqa: E402
from tests.support import servers  # noqa: E402
from tests.support.builders import key_policy, proof_validator, token_validator  # noqa: E402
from tests.support.dpop_client import ProofKey, b64url, compact_jws, segment  # noqa: E402
from tests.support.network import free_port  # noqa: E402
from tests.support.services import RedisServer  # noqa: E402
from tests.support.tenant import AUDIENCE, ISSUER, KID, TenantServer, start_tenant  # noqa: E402

WORK = ROOT / "bench" / ".work"
LUA = ROOT / "bench" / "headers.lua"
TOKEN_HEADER = {"alg": "RS256", "typ": "JWT", "kid": KID}
MAX_TOKEN_LENGTH = 8192  # AUTH0_MAX_TOKEN_LENGTH's default: the longest token the server reads
WORKERS, THREADS = 2, 4  # as servers.COMMANDS["gunicorn"] runs it
PATHS = {"public": "/api/public", "private": "/api/private", "scoped": "/api/private-scoped"}
ANONYMOUS = {"anon-objects": "{}-payload token", "anon-garbage": "max-length garbage"}
IN_PROCESS_HOST = "127.0.0.1:8000"  # the Host of bench/in_process.py's requests, named by their DPoP proofs
ES256_FLOOR = "ES256 verify of a DPoP proof (`cryptography`, P-256): the ES256 verification floor"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the API under gunicorn with wrk.")
    parser.add_argument("--quick", action="store_true", help="smoke run of every phase; report in bench/.work/")
    parser.add_argument("--rounds", type=int, help="rounds per phase (6; --quick: 1)")
    parser.add_argument("--duration", type=int, help="whole seconds per run (2; --quick: 1)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections in the rounds")
    parser.add_argument("--load-seconds", type=int, help="64-connection load check (20; --quick: 1; 0 skips)")
    parser.add_argument("--output", type=Path, help="the report (docs/benchmarks.md; --quick: bench/.work/)")
    args = parser.parse_args(argv)
    for name, full, quick in (("rounds", 6, 1), ("duration", 2, 1), ("load_seconds", 20, 1)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.output = args.output or (WORK / "benchmarks-quick.md" if args.quick else ROOT / "docs" / "benchmarks.md")
    return args


def claims(subject: str, **extra: Any) -> dict[str, Any]:
    """An Auth0-shaped access token's claims."""
    now = int(time.time())
    return {"iss": ISSUER, "sub": f"auth0|{subject}", "aud": [AUDIENCE, ISSUER + "userinfo"], "iat": now,
            "exp": now + 4 * 3600, "azp": "bEnChCl1eNt0000000000000000000000",
            "scope": "openid profile email read:messages", **extra}  # fmt: skip


def sign(key: rsa.RSAPrivateKey, payload: dict[str, Any]) -> str:
    return compact_jws(TOKEN_HEADER, payload, "RS256", key)


_minting_key: Any = None  # the forked minting processes inherit it


# Claims padding a valid token to about the longest the server reads, as an Action copying metadata makes.
LONG_CLAIMS = {"https://bench.example.com/metadata": "m" * (MAX_TOKEN_LENGTH * 3 // 4 - 900)}


def _mint(job: tuple[range, bool]) -> list[str]:
    indices, long = job
    return [sign(_minting_key, claims(f"bench{index:010d}", **(LONG_CLAIMS if long else {}))) for index in indices]


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


@dataclass
class Pool:
    """First-seen tokens, each handed out once: ``take(count)`` header values."""

    tokens: list[str]
    used: int = 0

    @classmethod
    def minted(cls, key: rsa.RSAPrivateKey, count: int, *, long: bool = False) -> Pool:
        """``count`` distinct valid tokens (of nearly the maximum length with ``long``), signed on every core."""
        global _minting_key  # noqa: PLW0603 - read by the forked minting processes
        _minting_key = key
        chunks = [(range(start, min(start + 1000, count)), long) for start in range(0, count, 1000)]
        with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("fork")) as pool:
            return cls([token for tokens in pool.map(_mint, chunks) for token in tokens])

    def take(self, count: int) -> list[str]:
        self.used += count
        return [f"Bearer {token}" for token in self.tokens[self.used - count : self.used]]


class Credentials:
    """Every key and token the phases send."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.dpop_key = ProofKey()
        self.bearer = {name: sign(self.key, claims(f"bench-{name}")) for name in PATHS}  # one per endpoint
        self.dpop = sign(self.key, claims("bench-dpop", cnf={"jkt": self.dpop_key.thumbprint}))
        self.anonymous = anonymous_tokens()
        self.pool, self.long_pool = Pool([]), Pool([])  # first-seen tokens; of nearly the maximum length

    def proofs(self, url: str, count: int) -> list[str]:
        """``count`` requests with the bound token, each with a new proof for ``GET url``."""
        return [f"DPoP {self.dpop}\t{self.dpop_key.proof('GET', url, token=self.dpop)}" for _ in range(count)]


def median_us(operation: Callable[[], object], runs: int) -> float:
    for _ in range(runs // 10):
        operation()
    timings = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        operation()
        timings.append(time.perf_counter_ns() - started)
    return statistics.median(timings) / 1000


def measure_floor(credentials: Credentials, runs: int) -> dict[str, float]:
    token, url = credentials.bearer["scoped"], "http://127.0.0.1:8000/api/private-scoped"
    message, _, signature = token.rpartition(".")
    rsa_signature, rsa_public = b64url_decode(signature), credentials.key.public_key()
    proof = credentials.proofs(url, 1)[0].partition("\t")[2]
    proof_input = proof.rpartition(".")[0].encode()
    ec_key = credentials.dpop_key.private_key
    ec_public, ec_signature = ec_key.public_key(), ec_key.sign(proof_input, ec.ECDSA(hashes.SHA256()))  # DER
    tenant = start_tenant(credentials.key)
    keys = KeySetCache(ISSUER, jwks_url=tenant.jwks_url, policy=key_policy())
    keys.get_key(KID)  # fetched once, here: the tenant can go
    tenant.stop()

    def validator(cache_size: int) -> TokenValidator:
        return token_validator(issuers={ISSUER: keys}, audiences=[AUDIENCE], cache_size=cache_size)

    uncached, cached, proofs = validator(0), validator(4096), proof_validator()

    def refuse_anonymous() -> None:
        with contextlib.suppress(AuthnError):
            uncached.validate(credentials.anonymous["anon-objects"])

    return {
        "RS256 verify of one token (`cryptography`, RSA-2048)": median_us(lambda: rsa_public.verify(
            rsa_signature, message.encode(), padding.PKCS1v15(), hashes.SHA256()), runs),
        ES256_FLOOR: median_us(lambda: ec_public.verify(ec_signature, proof_input, ec.ECDSA(
            hashes.SHA256())), runs),
        "project `TokenValidator.validate`, token not cached": median_us(lambda: uncached.validate(token), runs),
        "project `TokenValidator.validate`, token cached": median_us(lambda: cached.validate(token), runs * 4),
        "project `TokenValidator.validate` refusing the {}-payload token": median_us(refuse_anonymous, runs),
        "project DPoP `ProofValidator.validate`, one proof": median_us(lambda: proofs.validate(
            proof, method="GET", url=url, access_token=credentials.dpop), runs),
    }  # fmt: skip


@dataclass
class Server:
    """A gunicorn master and its workers, and the stand-in tenant that only they fetch keys from."""

    name: str
    gunicorn: servers.Server
    tenant: TenantServer

    @property
    def url(self) -> str:
        return self.gunicorn.url

    def pids(self) -> list[int]:
        master = self.gunicorn.process.pid
        every = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
        return [master, *sorted(pid for pid in every if proc_stat(pid)[1:2] == [str(master)])]

    def stop(self) -> None:
        """Stops the master's process group (its workers too), once: the group id is ours until it is reaped."""
        if self.gunicorn.process.returncode is None:
            servers.halt(self.gunicorn)
        self.tenant.stop()


def start_server(bench: Bench, stack: contextlib.ExitStack, name: str, redis_url: str = "") -> Server:
    """gunicorn as production runs it (tests/support/servers.py), stopped with ``stack``, once each worker has
    fetched the keys, asked by /readyz one request at a time: a burst of requests at a cold worker would find
    AUTH0_JWKS_MAX_WAITING of them waiting on its fetch, the rest 503."""
    tenant, port, log = start_tenant(bench.credentials.key), free_port(), WORK / f"gunicorn-{name}.log"
    env = servers.tenant_env(tenant) | {"REDIS_URL": redis_url}
    server = Server(name, servers.start(servers.COMMANDS["gunicorn"](port), env, log, port, group=True), tenant)
    stack.callback(server.stop)
    bench.servers.append(server)
    deadline = time.monotonic() + 10
    while tenant.fetches < WORKERS and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            server.gunicorn.get("/readyz")
    return server


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


def machine_busy_seconds() -> float:
    """CPU time every process on the machine used (user, nice, system, irq, softirq, steal)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU time of this process (the tenant runs in it) and of its finished children (wrk)."""
    return sum(os.times()[:4])  # user, system, children's user, children's system


@dataclass(frozen=True)
class Spec:
    """One kind of request: ``lines(count)``, header values for ``count`` requests (one line: sent every time)."""

    label: str
    path: str
    auth: str
    lines: Callable[[int], list[str]]
    expect: int = 200
    fresh: bool = False  # each line may be sent once only: a wrap resends one


@dataclass
class Run:
    phase: str
    round: int
    spec: Spec
    requests: int
    seconds: float
    p50_us: float
    p99_us: float
    cpu_seconds: float
    other_cores: float  # CPU used by neither the server nor this benchmark, in cores
    fetches: int
    errors: int  # socket errors and timeouts
    unexpected: int  # responses whose status was not ``spec.expect``
    wraps: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds * 1e6 / max(1, self.requests)


def drive(server: Server, spec: Spec, lines: list[str], *, seconds: int, connections: int) -> dict[str, Any]:
    """One wrk run sending ``lines``: wrk's figures, and the CPU time of the server and of the machine."""
    if not lines:
        raise RuntimeError(f"nothing to send for {spec.label}: the token pool is used up")
    headers = WORK / "headers.txt"
    headers.write_text("\n".join(lines) + "\n", encoding="ascii")
    env = os.environ | {"BENCH_HEADERS": str(headers), "BENCH_EXPECT": str(spec.expect)}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA)]
    pids, fetches = server.pids(), server.tenant.fetches
    before = (cpu_seconds(pids), machine_busy_seconds(), own_seconds())
    done = subprocess.run([*command, server.url + spec.path], env=env, capture_output=True, text=True, check=False)
    time.sleep(0.1)  # the server finishes the requests in flight when wrk stopped
    after = (cpu_seconds(pids), machine_busy_seconds(), own_seconds())
    server_cpu, busy, own = (a - b for a, b in zip(after, before, strict=True))
    found = [line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed (status {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    result = json.loads(found[0].removeprefix("BENCH_RESULT "))
    return result | {
        "seconds": result["duration_us"] / 1e6,
        "cpu_seconds": server_cpu,
        "other_cores": max(0.0, busy - server_cpu - own) / (result["duration_us"] / 1e6 + 0.1),
        "fetches": server.tenant.fetches - fetches,
    }


@dataclass
class Bench:
    args: argparse.Namespace
    credentials: Credentials
    runs: list[Run] = field(default_factory=list)  # measured, in rounds
    unmeasured: list[Run] = field(default_factory=list)  # warm-up, cache filling, load check
    servers: list[Server] = field(default_factory=list)
    rate: float = 0.0  # the fastest req/s an authenticating run reached: what a run needs tokens or proofs for

    def lines_for(self, seconds: int, margin: float = 2.0) -> int:
        """Requests a run may send; wide, as the load of a shared machine changes: a resent proof is refused."""
        return int(seconds * self.rate * margin) + 100

    def run(
        self, server: Server, spec: Spec, phase: str, number: int, *, seconds: int = 0, connections: int = 0
    ) -> Run:
        """One run of ``spec``; ``number`` 0 for a run outside the rounds."""
        seconds, connections = seconds or self.args.duration, connections or self.args.connections
        result = drive(server, spec, spec.lines(self.lines_for(seconds)), seconds=seconds, connections=connections)
        run = Run(phase, number, spec, **{name: result[name] for name in Run.__dataclass_fields__ if name in result})
        (self.runs if number else self.unmeasured).append(run)
        if spec.path != PATHS["public"]:
            self.rate = max(self.rate, run.rps)
        print(
            f"  {phase:11} {number or '-':>2} {spec.label:12} {run.rps:7.0f} req/s  {run.cpu_us:5.0f} CPU us/req",
            flush=True,
        )
        return run

    def rounds(self, server: Server, phase: str, specs: list[Spec]) -> None:
        """Each round runs ``specs`` in order, the reverse every other round."""
        for number in range(1, self.args.rounds + 1):
            for spec in specs if number % 2 else specs[::-1]:
                self.run(server, spec, phase, number)

    def warm_up(self, server: Server, specs: list[Spec]) -> None:
        """Each spec for a second at 16 connections, so that both workers take some; the first (a Bearer token)
        twice: the first run of a new server is slow, and the rate of the second sizes the fresh proofs after."""
        for spec in [specs[0], *specs]:
            self.run(server, spec, "warm-up", 0, seconds=1, connections=16)


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
    auth = "Bearer, first-seen tokens"
    resent = same_lines(*(f"Bearer {token}" for token in credentials.pool.tokens[:block]))
    public = Spec("public", PATHS["public"], "Bearer, pool tokens", resent)
    validating = [
        Spec(name, PATHS[name], auth, lambda _count: credentials.pool.take(block), fresh=True)
        for name in ("scoped", "private")
    ]
    # The same length as the worst anonymous tokens: /api/public with one (what reading 8 KiB costs gunicorn
    # and Django), and valid first-seen tokens that long.
    long_header = f"Bearer {credentials.anonymous['anon-objects']}"
    same_length = [
        Spec("public-long", PATHS["public"], "Bearer, an 8 KiB header", same_lines(long_header)),
        Spec("private-long", PATHS["private"], f"{auth}, 8 KiB", lambda _count: credentials.long_pool.take(block),
             fresh=True),
    ]  # fmt: skip
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


def locmem_phases(bench: Bench, stack: contextlib.ExitStack) -> None:
    """Without ``REDIS_URL``: repeated, dpop-locmem, first-seen with the worst anonymous, the load check."""
    args, credentials = bench.args, bench.credentials
    server = start_server(bench, stack, "locmem")
    repeated, dpop = bearer_specs(credentials, "public", "scoped", "private"), dpop_specs(credentials, server.url)
    bench.warm_up(server, [repeated[1], dpop[-1], anonymous_specs(credentials)[0]])
    bench.rounds(server, "repeated", repeated)
    bench.rounds(server, "dpop-locmem", dpop)
    fill = 1000 if args.quick else 12_000  # full runs: more than both workers' token caches hold (4,096 each)
    block = bench.lines_for(args.duration, margin=1.25)  # slower than the repeated token; a resent one is a 200
    print(f"Minting {fill + 3 * args.rounds * block:,} first-seen tokens ...", flush=True)
    credentials.pool = Pool.minted(credentials.key, fill + 2 * args.rounds * block)
    credentials.long_pool = Pool.minted(credentials.key, args.rounds * block, long=True)
    filling = Spec("scoped", PATHS["scoped"], "Bearer, filling the caches", lambda _count: credentials.pool.take(fill))
    bench.run(server, filling, "fill-caches", 0, seconds=max(1, round(fill / bench.rate)))
    bench.rounds(server, "first-seen", first_seen_specs(credentials, block))
    if args.load_seconds:
        bench.run(server, repeated[1], "load", 0, seconds=args.load_seconds, connections=64)
    server.stop()


def redis_phase(bench: Bench, stack: contextlib.ExitStack) -> None:
    """dpop-redis: the DPoP rounds on a server whose ``REDIS_URL`` names a redis-server started for it."""
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed (apt-get install redis-server): no dpop-redis phase", flush=True)
        return
    (WORK / "redis").mkdir(exist_ok=True)
    redis = RedisServer(binary, WORK / "redis")
    stack.callback(redis.stop)
    redis.start()
    server = start_server(bench, stack, "redis", redis.url)
    dpop = dpop_specs(bench.credentials, server.url)
    bench.warm_up(server, [dpop[1], dpop[2]])
    bench.rounds(server, "dpop-redis", dpop)


def in_process_phases(bench: Bench) -> None:
    """The repeated, first-seen and DPoP phases through Django in one process (bench/in_process.py): what a
    request costs the server without gunicorn, sockets or wrk, which on a shared 2-core machine blur
    differences of tens of us. Runs are named ``in-process <phase>``."""
    args, credentials = bench.args, bench.credentials
    per_round, fill = (100, 200) if args.quick else (2000, 4096)  # fill: the verified-token cache holds 4,096
    fresh = args.rounds * per_round + 1  # each spec's first request precedes the measured rounds
    print(f"In-process: minting {fill + 3 * fresh:,} first-seen tokens ...", flush=True)
    credentials.pool = Pool.minted(credentials.key, fill + 2 * fresh)
    credentials.long_pool = Pool.minted(credentials.key, fresh, long=True)
    fill_lines = credentials.pool.take(fill)
    phases = {
        "in-process repeated": bearer_specs(credentials, "public", "scoped", "private"),
        "in-process first-seen": first_seen_specs(credentials, fresh),
        "in-process dpop": dpop_specs(credentials, f"http://{IN_PROCESS_HOST}"),
    }
    job = {
        "host": IN_PROCESS_HOST, "rounds": args.rounds, "per_round": per_round,
        "fill": {"path": PATHS["scoped"], "lines": fill_lines},
        "phases": {phase: [{"label": spec.label, "path": spec.path, "expect": spec.expect, "fresh": spec.fresh,
                            "lines": spec.lines(fresh)} for spec in specs] for phase, specs in phases.items()},
    }  # fmt: skip
    job_file, log = WORK / "in-process-job.json", WORK / "in-process.log"
    job_file.write_text(json.dumps(job), encoding="ascii")
    tenant = start_tenant(credentials.key)
    env = servers.tenant_env(tenant) | {"DJANGO_SETTINGS_MODULE": "config.settings"}
    print(f"In-process: {args.rounds} round(s) of {per_round} requests of each kind ...", flush=True)
    try:
        with log.open("wb") as errors:
            done = subprocess.run([sys.executable, str(ROOT / "bench" / "in_process.py"), str(job_file)], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=errors, check=False)  # fmt: skip
    finally:
        tenant.stop()
    if done.returncode != 0:
        raise RuntimeError(f"bench/in_process.py failed (status {done.returncode}):\n{log.read_text()[-3000:]}")
    by_label = {(phase, spec.label): spec for phase, specs in phases.items() for spec in specs}
    for phase, label, number, requests, cpu, unexpected in json.loads(done.stdout):
        run = Run(phase, number, by_label[phase, label], requests, cpu, 0.0, 0.0, cpu, 0.0, 0, 0, unexpected, 0)
        bench.runs.append(run)
        print(f"  {phase:21} {number:>2} {label:12} {run.cpu_us:7.1f} CPU us/req", flush=True)


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


def per_round(runs: list[Run], phase: str, figure: Callable[[dict[str, Run]], float]) -> list[float]:
    rounds: dict[int, dict[str, Run]] = {}
    for run in runs:
        if run.phase == phase:
            rounds.setdefault(run.round, {})[run.spec.label] = run
    return [figure(labels) for labels in rounds.values()]


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
    versions = [version(name) for name in ("django", "djangorestframework", "gunicorn", "cryptography")]
    redis = output("redis-server", "--version").split(" sha=")[0] or "not installed"
    return {
        "code": output("git", "-C", str(ROOT), "log", "-1", "--format=%h %s") + dirty,
        "CPU": f"{cpu}, {os.cpu_count()} cores (shared by the server, wrk and anything else running)",
        "OS / Python": f"{platform.system()} {platform.release()} / {platform.python_version()}",
        "Django / DRF / gunicorn / cryptography": " / ".join(versions),
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
        "with `REDIS_URL` set (Redis's own CPU is not in the server CPU). "
        f"Load: wrk, {args.connections} connections; each phase runs {args.rounds} round(s) of its requests, "
        f"{args.duration} s each, in the reverse order every other round. First-seen tokens were never sent "
        f"before: {credentials.pool.used:,} of a pool of {len(credentials.pool.tokens):,}, the first ones filling the "
        f"verified-token caches (4,096 per worker). The worst anonymous tokens are {MAX_TOKEN_LENGTH} characters "
        "at most, their header naming the tenant's key, their signature made by no key, the same one on every "
        "request (refusals are not cached). DPoP: a token bound to a P-256 key, a new proof for each request, "
        "made just before its run.", "",
    ]  # fmt: skip


def request_tables(bench: Bench) -> list[str]:
    """Per phase and request kind: under gunicorn, then in one process."""
    gunicorn = [
        "## Per phase and request", "",
        "req/s: all requests over all rounds' time (slowest to fastest round). p50, p99: median of the rounds. "
        "Server CPU: utime + stime of the gunicorn master and workers over the requests served.", "",
        "| phase | request | req/s (range) | p50 ms | p99 ms | server CPU us/req | requests | JWKS fetches "
        "| unexpected status + errors |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    in_process = [
        "## In one process", "",
        "The same phases as whole requests through Django's WSGI handler (`bench/in_process.py`, the servers' "
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
        "some 20 to 30 us/request: a smaller difference is not resolved by one run.", "",
        "| figure | median (range) | target | |", "| --- | --- | --- | --- |",
    ]  # fmt: skip
    for figure in figures(floor[ES256_FLOOR]):
        values = per_round(bench.runs, figure.phase, figure.value)
        if values:
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
    fetch_ok = all(count <= WORKERS for count in fetches.values())
    logs = "".join(server.gunicorn.log_text() for server in bench.servers)
    clean = "Traceback" not in logs and '" 500 ' not in logs
    other = [run.other_cores for run in every if not run.phase.startswith("in-process")]
    lines = [
        "## Checks", "", "| check | result | |", "| --- | --- | --- |",
        f"| every response had the expected status (200; 401 for anonymous tokens), no socket error | "
        f"{unexpected} unexpected, {errors} errors | {verdict(unexpected == errors == 0)} |",
        f"| no token or proof resent where each must be new | {wraps} wraps | {verdict(wraps == 0)} |",
        f"| key set fetches per server: at most one per worker ({WORKERS}; a restarted worker fetches again) | "
        f"{', '.join(f'{name}: {count}' for name, count in fetches.items())} | {verdict(fetch_ok)} |",
    ]  # fmt: skip
    for load in (run for run in bench.unmeasured if run.phase == "load"):
        ok = load.unexpected == load.errors == load.fetches == 0
        lines.append(
            f"| load: 64 connections x {load.seconds:.0f} s on /api/private-scoped | {load.requests:,} requests, "
            f"{load.rps:,.0f} req/s, p99 {load.p99_us / 1000:.1f} ms, {load.unexpected} unexpected, "
            f"{load.errors} errors, {load.fetches} key set fetches | {verdict(ok)} |"
        )
    lines += [
        f"| server logs: no traceback, no 500 | {'clean' if clean else 'see bench/.work/gunicorn-*.log'} "
        f"| {verdict(clean)} |",
        f"| other load on the machine during the runs | mean {statistics.fmean(other):.2f} cores, max "
        f"{max(other):.2f} | {'quiet' if max(other) < 0.2 else 'shared: figures are noisier'} |", "",
    ]  # fmt: skip
    return lines, unexpected == errors == 0 and fetch_ok


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("make bench needs wrk, the HTTP load generator: apt-get install wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))  # stop everything on the way out
    WORK.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    print("Generating keys and tokens, measuring the floor in-process ...", flush=True)
    bench = Bench(args, Credentials())
    floor = measure_floor(bench.credentials, 500 if args.quick else 5000)
    print("".join(f"  {value:8.1f} us  {name}\n" for name, value in floor.items()), end="", flush=True)
    in_process_phases(bench)
    with contextlib.ExitStack() as stack:
        locmem_phases(bench, stack)
        redis_phase(bench, stack)
    check_lines, ok = checks(bench)
    text = "\n".join([*header(bench, started), *request_tables(bench),
                      *against_targets(bench, floor), *floor_table(floor), *check_lines])  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"\n{text}\nWritten to {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("\nInterrupted; every process the benchmark started has been stopped.", file=sys.stderr)
        sys.exit(130)
