"""Whole requests through Django's WSGI handler in one process, for bench/run.py: the server CPU without
gunicorn, sockets or wrk competing for the cores.

Run by bench/run.py with the gunicorn servers' environment (``config.settings``, ``DJANGO_DEBUG=false``)
and a job file: ``{"host", "rounds", "per_round", "fill": {"path", "lines"}, "phases": {name: [{"label",
"path", "expect", "fresh", "lines"}]}}``. A line is an ``Authorization`` value, optionally a tab and a
``DPoP`` value, as bench/headers.lua reads them; a spec's lines are sent in turn, again from the first when
they run out, except that a ``fresh`` spec's are each sent once (it needs ``rounds * per_round + 1``).

Each spec is sent once, then the ``fill`` lines (tokens filling the verified-token cache). Then each phase
runs its rounds: ``per_round`` requests of each of its specs, one of each in turn (the order reversed every
other turn), so that a shared machine's changing speed falls on every kind alike. Prints one JSON list,
``[phase, label, round, requests, cpu_seconds, unexpected]`` for each spec and round. CPU is this process's
(``time.process_time_ns``) around each request, garbage collection included.
"""

from __future__ import annotations

import io
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def environ(host: str, path: str, line: str) -> dict[str, Any]:
    authorization, _, proof = line.partition("\t")
    found = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": host, "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": authorization, "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }  # fmt: skip
    return found | ({"HTTP_DPOP": proof} if proof else {})


def requests(host: str, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    lines = iter(spec["lines"]) if spec["fresh"] else itertools.cycle(spec["lines"])
    return (environ(host, spec["path"], line) for line in lines)


def serve(application: Callable[..., Any], request: dict[str, Any]) -> int:
    status: list[str] = []
    body = application(request, lambda line, _headers, _exc_info=None: status.append(line))
    for _chunk in body:
        pass
    body.close()
    return int(status[0][:3])


def measure(
    application: Callable[..., Any],
    specs: list[dict[str, Any]],
    kinds: list[Iterator[dict[str, Any]]],
    number: int,
    count: int,
) -> list[list[Any]]:
    """Round ``number``: ``count`` requests of every spec, one of each in turn; ``[label, round, requests,
    cpu_seconds, unexpected]`` for each."""
    cpu_ns, unexpected = [0] * len(specs), [0] * len(specs)
    order = list(range(len(specs)))
    for turn in range(count):
        for index in order if turn % 2 else order[::-1]:
            request = next(kinds[index])
            started = time.process_time_ns()
            status = serve(application, request)
            cpu_ns[index] += time.process_time_ns() - started
            unexpected[index] += status != specs[index]["expect"]
    return [[spec["label"], number, count, cpu_ns[index] / 1e9, unexpected[index]] for index, spec in enumerate(specs)]


def main(job_file: str) -> None:
    from django.core.wsgi import get_wsgi_application

    application, job = get_wsgi_application(), json.loads(Path(job_file).read_text())
    host, phases = job["host"], job["phases"]
    pending = {(phase, spec["label"]): requests(host, spec) for phase, specs in phases.items() for spec in specs}
    for kind in pending.values():  # one request each before measuring: imports, the key set fetch
        serve(application, next(kind))
    for line in job["fill"]["lines"]:  # first-seen tokens filling the verified-token cache, as in a busy worker
        serve(application, environ(host, job["fill"]["path"], line))
    results = []
    for phase, specs in phases.items():
        kinds = [pending[phase, spec["label"]] for spec in specs]
        for number in range(1, job["rounds"] + 1):
            results += [[phase, *run] for run in measure(application, specs, kinds, number, job["per_round"])]
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
