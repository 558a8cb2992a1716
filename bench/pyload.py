"""Fallback load generator for bench/run.py when ``wrk`` is not installed.

Speaks the same interface as ``bench/bearer.lua``: the same ``BENCH_*``
environment variables choose the token(s), and it prints one
``BENCH_RESULT {json}`` line with the same fields. One thread per connection,
keep-alive where the server allows it. It is much weaker than wrk (the GIL and
http.client cost more CPU per request than the server spends), so run.py says
so next to its figures.

    python bench/pyload.py -c 8 -d 5 http://127.0.0.1:8000/api/public
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import threading
import time
from urllib.parse import urlsplit


class Connection:
    """One client connection: its own token block, latencies and counters."""

    def __init__(self, host: str, port: int, path: str, tokens: list[str]) -> None:
        self.host, self.port, self.path, self.tokens = host, port, path, tokens
        self.latencies_us: list[float] = []
        self.non200 = self.bad_status = self.wrapped = 0
        self.errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}

    def run(self, deadline: float) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        cursor = 0
        while time.monotonic() < deadline:
            if cursor == len(self.tokens):  # a repeated token is one "block" of one, sent again and again
                cursor, self.wrapped = 0, self.wrapped + (len(self.tokens) > 1)
            headers = {"Authorization": "Bearer " + self.tokens[cursor]}
            cursor += 1
            started = time.perf_counter()
            try:
                conn.request("GET", self.path, headers=headers)
                response = conn.getresponse()
                response.read()
            except TimeoutError:
                self.errors["timeout"] += 1
                conn.close()
                continue
            except (OSError, http.client.HTTPException):
                self.errors["read"] += 1
                conn.close()
                continue
            self.latencies_us.append((time.perf_counter() - started) * 1e6)
            if response.status != 200:
                self.non200, self.bad_status = self.non200 + 1, response.status
                if response.status > 399:
                    self.errors["status"] += 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        conn.close()


def token_blocks(connections: int) -> list[list[str]]:
    """Each connection's tokens, read from the environment exactly as bearer.lua reads them."""
    token_file = os.environ.get("BENCH_TOKEN_FILE", "")
    if not token_file:
        return [[os.environ["BENCH_TOKEN"]] for _ in range(connections)]
    width = int(os.environ["BENCH_TOKEN_WIDTH"])
    per = int(os.environ["BENCH_TOKEN_COUNT"]) // connections
    start = int(os.environ["BENCH_TOKEN_START"])
    blocks = []
    with open(token_file, "rb") as file:
        for index in range(connections):
            file.seek((start + index * per) * (width + 1))
            blocks.append(file.read(per * (width + 1)).decode("ascii").split())
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--connections", type=int, default=8)
    parser.add_argument("-d", "--duration", type=float, default=5.0, help="seconds")
    parser.add_argument("url")
    args = parser.parse_args()
    parts = urlsplit(args.url)
    clients = [
        Connection(parts.hostname or "127.0.0.1", parts.port or 80, parts.path, block)
        for block in token_blocks(args.connections)
    ]
    started = time.monotonic()
    deadline = started + args.duration
    threads = [threading.Thread(target=client.run, args=(deadline,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.monotonic() - started
    latencies = sorted(latency for client in clients for latency in client.latencies_us)
    if not latencies:
        latencies = [0.0]
    result = {
        "requests": sum(len(client.latencies_us) for client in clients),
        "duration_us": int(duration * 1e6),
        "p50_us": int(latencies[len(latencies) // 2]),
        "p99_us": int(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]),
        "mean_us": statistics.fmean(latencies),
        "max_us": int(latencies[-1]),
        **{name: sum(client.errors[name] for client in clients) for name in clients[0].errors},
        "non200": sum(client.non200 for client in clients),
        "bad_status": max(client.bad_status for client in clients),
        "wrapped": sum(client.wrapped for client in clients),
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
