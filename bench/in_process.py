"""Whole requests through Django's WSGI handler in one process, for bench/run.py: the server CPU without
gunicorn, sockets or wrk competing for the cores.

Run by bench/run.py with the gunicorn servers' environment (``config.settings``, ``DJANGO_DEBUG=false``)
and a job file: ``{"host", "rounds", "per_round", "fill": {"path", "lines"}, "specs": [{"label", "path",
"expect", "lines"}]}``. A line is an ``Authorization`` value, optionally a tab and a ``DPoP`` value, as
bench/headers.lua reads them; a spec of one line sends it every time, one of several lines needs
``rounds * per_round + 1`` of them, each sent once.

Each spec is sent once, then the ``fill`` lines (tokens filling the verified-token cache); then each round
sends ``per_round`` requests of every spec, one of each in turn (the order reversed every other turn), so
that a shared machine's changing speed falls on every kind alike. Prints one JSON list, ``[label, round,
requests, cpu_seconds, unexpected]`` for each spec and round. CPU is this process's
(``time.process_time_ns``) around each request, garbage collection included.
"""

from __future__ import annotations

import io
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
    """Each line's environ in turn; a single line forever."""
    lines: list[str] = spec["lines"]
    if len(lines) == 1:
        while True:
            yield environ(host, spec["path"], lines[0])
    yield from (environ(host, spec["path"], line) for line in lines)


def serve(application: Callable[..., Any], request: dict[str, Any]) -> int:
    status: list[str] = []
    body = application(request, lambda line, _headers, _exc_info=None: status.append(line))
    for _chunk in body:
        pass
    body.close()
    return int(status[0][:3])


def main(job_file: str) -> None:
    from django.core.wsgi import get_wsgi_application

    application, job = get_wsgi_application(), json.loads(Path(job_file).read_text())
    host, specs = job["host"], job["specs"]
    pending = {spec["label"]: requests(host, spec) for spec in specs}
    for spec in specs:  # one request each before measuring: imports, the key set fetch
        serve(application, next(pending[spec["label"]]))
    for line in job["fill"]["lines"]:  # first-seen tokens filling the verified-token cache, as in a busy worker
        serve(application, environ(host, job["fill"]["path"], line))
    results = []
    for number in range(1, job["rounds"] + 1):
        cpu_ns, unexpected = dict.fromkeys(pending, 0), dict.fromkeys(pending, 0)
        for turn in range(job["per_round"]):  # one request of each kind in turn: the machine's drift hits all alike
            for spec in specs if turn % 2 else specs[::-1]:
                label = spec["label"]
                request = next(pending[label])
                started = time.process_time_ns()
                status = serve(application, request)
                cpu_ns[label] += time.process_time_ns() - started
                unexpected[label] += status != spec["expect"]
        results += [[label, number, job["per_round"], cpu_ns[label] / 1e9, unexpected[label]] for label in pending]
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
