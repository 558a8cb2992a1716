"""Where a request's time goes, in-process: /api/public against /api/private(-scoped).

Calls the project's WSGI application directly in a loop (no sockets, no
gunicorn), with the same settings ``bench/run.py`` gives gunicorn and a
stand-in tenant on loopback, and prints:

- CPU us per request for each endpoint with a repeated token and with
  first-seen tokens (interleaved blocks, median of the blocks), and the time
  the garbage collector took per request (from ``gc.callbacks``);
- with ``--middleware``: the same for /api/public and /api/private-scoped with
  each middleware of ``settings.MIDDLEWARE`` left out in turn (the settings
  file is not touched: the handler is rebuilt under ``override_settings``);
- with ``--components``: each step of the authenticated path timed on its
  own in this process (median of many calls), to set against the difference;
- with ``--gc-freeze`` / ``--gc-off``: the first table again after
  ``gc.freeze()`` (what a gunicorn ``post_fork`` hook could do) / with the
  collector disabled (what the GC costs in all);
- with ``--in-situ``: the time spent inside the validator (and in its RSA
  verify) during whole requests, to set against the same steps timed alone;
- with ``--cprofile``: the functions whose own time per request differs most
  between /api/private-scoped and /api/public, for both token modes.

    .venv/bin/python bench/profile_request.py [--requests 2000] [--blocks 5] [--components] [--in-situ]
        [--gc-freeze] [--gc-off] [--middleware] [--cprofile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import logging
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import run  # noqa: E402 - bench/run.py: keys, tokens, the stand-in tenant

ENDPOINTS = run.ENDPOINTS


class GcClock:
    """Time spent in the cyclic garbage collector, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self.longest_ms = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            elapsed = time.perf_counter() - self._started
            self.seconds += elapsed
            self.collections[info["generation"]] += 1
            generation = info["generation"]
            self.longest_ms[generation] = max(self.longest_ms[generation], elapsed * 1000)

    def reset(self) -> None:
        self.seconds, self.collections = 0.0, [0, 0, 0]


def make_caller(application: Callable[..., Any]) -> Callable[[str, str], int]:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        start_response.status = int(status[:3])  # type: ignore[attr-defined]

    def call(path: str, token: str) -> int:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_USER_AGENT": "wrk",
            "HTTP_AUTHORIZATION": "Bearer " + token,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        response = application(environ, start_response)
        for _ in response:
            pass
        response.close()
        return start_response.status  # type: ignore[attr-defined]

    return call


def loop(call: Callable[[str, str], int], path: str, tokens: Iterator[str], count: int) -> float:
    """CPU us per request over ``count`` requests."""
    started = time.process_time_ns()
    for _ in range(count):
        status = call(path, next(tokens))
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
    return (time.process_time_ns() - started) / count / 1000


def measure(
    call: Callable[[str, str], int],
    repeated: dict[str, str],
    fresh: Iterator[str],
    *,
    requests: int,
    blocks: int,
    gc_clock: GcClock,
) -> dict[tuple[str, str], tuple[float, float]]:
    """(mode, endpoint) -> (median CPU us/request over the blocks, GC us/request)."""
    samples: dict[tuple[str, str], list[float]] = {}
    gc_seconds: dict[tuple[str, str], float] = {}
    for _ in range(blocks):
        for mode in ("repeated", "first-seen"):
            for endpoint in ENDPOINTS:
                tokens = fresh if mode == "first-seen" else _forever(repeated[endpoint])
                gc_clock.reset()
                samples.setdefault((mode, endpoint), []).append(loop(call, ENDPOINTS[endpoint], tokens, requests))
                gc_seconds[mode, endpoint] = gc_seconds.get((mode, endpoint), 0.0) + gc_clock.seconds
    return {
        key: (statistics.median(values), gc_seconds[key] * 1e6 / (requests * blocks)) for key, values in samples.items()
    }


def _forever(token: str) -> Iterator[str]:
    while True:
        yield token


def profile_diff(call: Callable[[str, str], int], tokens: dict[str, Iterator[str]], requests: int, top: int) -> str:
    """Own time per request of each function, scoped minus public, largest first."""
    per_function: dict[str, dict[str, float]] = {}
    for endpoint, token_iter in tokens.items():
        profiler = cProfile.Profile()
        path = ENDPOINTS[endpoint]
        profiler.enable()
        for _ in range(requests):
            call(path, next(token_iter))
        profiler.disable()
        stats = pstats.Stats(profiler)
        for (filename, line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            label = f"{_short(filename)}:{line}({name})"
            per_function.setdefault(label, {})[endpoint] = tottime * 1e6 / requests
    rows = [(values.get("scoped", 0.0) - values.get("public", 0.0), label) for label, values in per_function.items()]
    rows.sort(reverse=True)
    lines = [f"    {delta:7.2f} us  {label}" for delta, label in rows[:top]]
    total = sum(delta for delta, _ in rows)
    return "\n".join([*lines, f"    {total:7.2f} us  total own-time difference (under cProfile, which inflates it)"])


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


ADMIN_ONLY = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)


def middleware_variants(middleware: list[str]) -> list[tuple[str, list[str]]]:
    """The full stack, then without each middleware, without the admin's three, and with none."""
    variants = [("(none left out: the full stack)", middleware)]
    variants += [(name.rsplit(".", 1)[1], [m for m in middleware if m != name]) for name in middleware]
    variants.append(("Session + Authentication + Message", [m for m in middleware if m not in ADMIN_ONLY]))
    variants.append(("(all of them: no middleware)", []))
    return variants


def middleware_costs(
    call_for: Callable[[list[str]], Callable[[str, str], int] | str],
    middleware: list[str],
    repeated: dict[str, str],
    requests: int,
    blocks: int,
) -> list[tuple[str, float | str, float | str]]:
    """(left out, public us/req, scoped us/req); a string instead of figures when the stack breaks."""
    callers = [(label, call_for(stack)) for label, stack in middleware_variants(middleware)]
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(blocks):
        for label, call in callers:
            if isinstance(call, str):
                continue
            for endpoint in ("public", "scoped"):
                value = loop(call, ENDPOINTS[endpoint], _forever(repeated[endpoint]), requests)
                samples.setdefault((label, endpoint), []).append(value)
    return [
        (label, call, call)
        if isinstance(call, str)
        else (label, statistics.median(samples[label, "public"]), statistics.median(samples[label, "scoped"]))
        for label, call in callers
    ]


def components(repeated: dict[str, str], fresh_sample: list[str]) -> list[tuple[str, float]]:
    """Each step of the authenticated request path, timed alone (median us of many calls)."""
    import json

    from django.test import RequestFactory
    from rest_framework.permissions import IsAuthenticated
    from rest_framework.request import Request

    from authn import tokens, trust
    from authn.authentication import Auth0JWTAuthentication, bearer_token
    from authn.permissions import HasScope
    from authn.users import TokenUser
    from messages_api.views import PrivateScopedMessageApi

    validator = trust.get_validator()
    token = repeated["scoped"]
    header_value = "Bearer " + token
    access_token = validator.validate(token)
    drf_request = Request(RequestFactory().get(ENDPOINTS["scoped"], HTTP_AUTHORIZATION=header_value))
    drf_request.user, drf_request.auth = TokenUser(access_token), access_token
    view = PrivateScopedMessageApi()
    signing_input, _, signature_segment = token.rpartition(".")
    header_segment, _, payload_segment = signing_input.partition(".")
    header = tokens.decode_json_segment(header_segment)
    payload = tokens.decode_json_segment(payload_segment)
    signature = tokens.decode_segment(signature_segment)
    key = validator.key_source.get_key(header["kid"])
    verifier = validator._verifiers["RS256"]
    message = signing_input.encode("ascii")
    full_cache = tokens.VerifiedTokenCache(4096)
    keys = [f"{i:08d}" for i in range(8192)]
    for name in keys[:4096]:
        full_cache.put(name, access_token)
    evicting = iter(keys[4096:] * 50)
    distinct = iter(fresh_sample * 10)  # more distinct tokens than the cache holds: every call misses
    uncached = tokens.TokenValidator(
        issuer=validator.issuer, audiences=validator.audiences, algorithms=["RS256"], key_source=validator.key_source,
        cache_size=0,
    )  # fmt: skip
    steps: list[tuple[str, Callable[[], Any], int]] = [
        ("repeated: bearer_token(header)", lambda: bearer_token(header_value), 20000),
        ("repeated: trust.get_validator()", trust.get_validator, 20000),
        ("repeated: validator.validate(token), cache hit", lambda: validator.validate(token), 20000),
        ("repeated: TokenUser(access_token)", lambda: TokenUser(access_token), 20000),
        ("repeated: Auth0JWTAuthentication().authenticate(request), cache hit",
         lambda: Auth0JWTAuthentication().authenticate(drf_request), 20000),
        ("repeated: HasScope().has_permission(request, view)",
         lambda: HasScope().has_permission(drf_request, view), 20000),
        ("repeated: IsAuthenticated().has_permission(request, view)",
         lambda: IsAuthenticated().has_permission(drf_request, view), 20000),
        ("first-seen: COMPACT_JWS.fullmatch(token)", lambda: tokens.COMPACT_JWS.fullmatch(token), 20000),
        ("first-seen: decode_json_segment(header)", lambda: tokens.decode_json_segment(header_segment), 20000),
        ("first-seen: decode_json_segment(payload)", lambda: tokens.decode_json_segment(payload_segment), 20000),
        ("first-seen: (json.loads(payload) without the hooks)",
         lambda: json.loads(tokens.decode_segment(payload_segment)), 20000),
        ("first-seen: decode_segment(signature)", lambda: tokens.decode_segment(signature_segment), 20000),
        ("first-seen: _check_header(header)", lambda: validator._check_header(header), 20000),
        ("first-seen: key_source.get_key(kid)", lambda: validator.key_source.get_key(header["kid"]), 20000),
        ("first-seen: RSAAlgorithm.verify (PyJWT -> cryptography)",
         lambda: verifier.verify(message, key.public_key, signature), 5000),
        ("first-seen: _check_claims(payload)", lambda: validator._check_claims(payload), 20000),
        ("first-seen: _freeze(header) + _freeze(payload)",
         lambda: (tokens._freeze(header), tokens._freeze(payload)), 20000),
        ("first-seen: _scopes(payload)", lambda: validator._scopes(payload), 20000),
        ("first-seen: VerifiedTokenCache.put, full cache (evicts)",
         lambda: full_cache.put(next(evicting), access_token), 20000),
        ("first-seen: TokenValidator._validate_uncached(token), whole", lambda: uncached.validate(token), 5000),
        ("first-seen: validator.validate(distinct tokens), whole, with cache",
         lambda: validator.validate(next(distinct)), 5000),
    ]  # fmt: skip
    return [(name, run.median_us(step, runs)) for name, step, runs in steps]


class Session:
    """The application in this process, its tokens, and the printed sections."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        key, jwks = run.new_key()
        self.tenant = run.StandInTenant(jwks).start()
        env = run.server_env(self.tenant.jwks_url)
        os.environ.update({name: value for name, value in env.items() if name.startswith(("AUTH0_", "DJANGO_"))})
        blocks = args.blocks * (1 + args.gc_freeze + args.gc_off)
        needed = args.requests * 3 * blocks + args.requests * (2 * args.cprofile + 2 * args.in_situ) + 8000
        pool_file = run.WORK / "profile-tokens.txt"
        run.WORK.mkdir(parents=True, exist_ok=True)
        print(f"Minting {needed:,} tokens ...", file=sys.stderr, flush=True)
        extra, _width = run.mint_pool(key, needed, pool_file)
        self.fresh = iter(pool_file.read_text().split())
        pool_file.unlink()
        self.repeated = dict(zip(ENDPOINTS, extra, strict=True))
        from config.wsgi import application

        self.call = make_caller(application)
        for endpoint in ENDPOINTS:  # warm up: imports, the JWKS fetch, URL resolver caches
            loop(self.call, ENDPOINTS[endpoint], _forever(self.repeated[endpoint]), 200)
        loop(self.call, ENDPOINTS["scoped"], self.fresh, 500)
        self.gc_clock = GcClock()
        self.baseline: dict[tuple[str, str], tuple[float, float]] = {}

    def endpoints_table(self, title: str) -> None:
        args = self.args
        print(f"\n{title} ({args.blocks} blocks x {args.requests} requests, median of the blocks)")
        print(f"  {'mode':11s} {'endpoint':8s} {'us/req':>8s} {'GC us/req':>10s} {'vs public':>10s} {'vs first':>9s}")
        results = measure(
            self.call, self.repeated, self.fresh, requests=args.requests, blocks=args.blocks, gc_clock=self.gc_clock
        )
        self.baseline = self.baseline or results
        for (mode, endpoint), (cpu, gc_us) in results.items():
            delta, change = cpu - results[mode, "public"][0], cpu - self.baseline[mode, endpoint][0]
            print(f"  {mode:11s} {endpoint:8s} {cpu:8.1f} {gc_us:10.1f} {delta:+10.1f} {change:+9.1f}")
        longest = ", ".join(f"{ms:.1f}" for ms in self.gc_clock.longest_ms)
        print(f"  GC collections (gen 0, 1, 2) in the last block: {self.gc_clock.collections}; longest pause "
              f"per generation so far: {longest} ms; objects the GC tracks: {len(gc.get_objects()):,}")  # fmt: skip
        self.gc_clock.longest_ms = [0.0, 0.0, 0.0]

    def in_situ(self) -> None:
        """Time inside the validator during whole requests (its methods wrapped on this instance only)."""
        from authn import trust

        validator = trust.get_validator()
        verifier = validator._verifiers["RS256"]
        spent = {"validate": 0, "_validate_uncached": 0, "verify": 0}
        originals = {"validate": validator.validate, "_validate_uncached": validator._validate_uncached}

        def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any) -> Any:
                started = time.perf_counter_ns()
                try:
                    return function(*args)
                finally:
                    spent[name] += time.perf_counter_ns() - started

            return wrapper

        for name, function in originals.items():
            setattr(validator, name, timed(name, function))
        verifier.verify = timed("verify", verifier.verify)  # type: ignore[method-assign]
        print(f"\nInside whole requests to /api/private-scoped ({self.args.requests} requests; wall-clock us/req):")
        for mode in ("repeated", "first-seen"):
            tokens = self.fresh if mode == "first-seen" else _forever(self.repeated["scoped"])
            spent.update(dict.fromkeys(spent, 0))
            total = loop(self.call, ENDPOINTS["scoped"], tokens, self.args.requests)
            per = {name: value / self.args.requests / 1000 for name, value in spent.items()}
            print(f"  {mode:11s} request {total:6.1f} CPU; validate() {per['validate']:6.1f}, of which "
                  f"_validate_uncached() {per['_validate_uncached']:6.1f}, "
                  f"of which RSA verify {per['verify']:5.1f}")  # fmt: skip
        for name in originals:
            delattr(validator, name)
        del verifier.verify

    def middleware(self) -> None:
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler
        from django.test.utils import override_settings

        def call_for(stack: list[str]) -> Callable[[str, str], int] | str:
            with override_settings(MIDDLEWARE=stack):
                handler = WSGIHandler()
            caller = make_caller(handler)
            logging.disable(logging.CRITICAL)  # a stack that breaks would log a traceback per request
            try:
                for endpoint in ("public", "scoped"):
                    loop(caller, ENDPOINTS[endpoint], _forever(self.repeated[endpoint]), 200)
            except RuntimeError as err:
                return f"breaks the stack: {err}"
            finally:
                logging.disable(logging.NOTSET)
            return caller

        args = self.args
        print(f"\nMiddleware: CPU us per request with some left out ({args.blocks} x {args.requests}, repeated token)")
        rows = middleware_costs(call_for, list(settings.MIDDLEWARE), self.repeated, args.requests, args.blocks)
        base_public, base_scoped = rows[0][1], rows[0][2]
        print(f"  {'left out':36s} {'public':>8s} {'saves':>7s} {'scoped':>8s} {'saves':>7s}")
        for label, public, scoped in rows:
            if isinstance(public, str) or isinstance(scoped, str) or isinstance(base_public, str):
                print(f"  {label:36s} {public}")
                continue
            print(f"  {label:36s} {public:8.1f} {base_public - public:7.1f} {scoped:8.1f} {base_scoped - scoped:7.1f}")

    def cprofile(self) -> None:
        for mode in ("repeated", "first-seen"):
            tokens = {
                "public": _forever(self.repeated["public"]) if mode == "repeated" else self.fresh,
                "scoped": _forever(self.repeated["scoped"]) if mode == "repeated" else self.fresh,
            }
            print(f"\ncProfile, own time per request, scoped minus public, {mode} token(s), "
                  f"{self.args.requests} requests:")  # fmt: skip
            print(profile_diff(self.call, tokens, self.args.requests, self.args.top))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per block")
    parser.add_argument("--blocks", type=int, default=5, help="interleaved blocks per endpoint and mode")
    parser.add_argument("--components", action="store_true", help="time each step of the authenticated path alone")
    parser.add_argument("--in-situ", action="store_true", help="time the validator inside whole requests")
    parser.add_argument("--gc-freeze", action="store_true", help="measure again after gc.freeze()")
    parser.add_argument("--gc-off", action="store_true", help="measure again with the GC disabled")
    parser.add_argument("--middleware", action="store_true", help="time the stack without some middleware")
    parser.add_argument("--cprofile", action="store_true", help="print a cProfile diff scoped - public")
    parser.add_argument("--top", type=int, default=25, help="rows of the cProfile diff")
    args = parser.parse_args()
    session = Session(args)
    session.endpoints_table("CPU us per request, in-process WSGI loop")
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
        session.endpoints_table(f"The same after gc.freeze() ({gc.get_freeze_count():,} objects made permanent)")
        gc.unfreeze()
    if args.gc_off:
        gc.disable()
        session.endpoints_table("The same with the GC disabled")
        gc.enable()
    if args.in_situ:
        session.in_situ()
    if args.components:
        print("\nSteps of the authenticated path, each timed alone (median us per call)")
        for name, micros in components(session.repeated, [next(session.fresh) for _ in range(6000)]):
            print(f"  {micros:8.2f}  {name}")
    if args.middleware:
        session.middleware()
    if args.cprofile:
        session.cprofile()
    session.tenant.stop()
    print(f"\nJWKS fetches: {session.tenant.fetches}")


if __name__ == "__main__":
    main()
