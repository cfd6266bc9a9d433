"""1. Webhook throughput and acknowledgement latency (bench/run.py's docstring says how): rounds of
signed deliveries against both servers, each round counted in the database afterwards.
"""

from __future__ import annotations

import http.client
import itertools
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    Server,
    Stored,
    count_jobs,
    count_stored,
    empty_queue,
    free_port,
    median,
    percentile,
    servers,
    signed_headers,
    spawn,
    stop_process,
    wait_until_answering,
)

CONCURRENCY = 8  # client threads, one keep-alive connection each
WARMUP = 100  # deliveries before the measured rounds (stored and checked too)
ROUNDS = 5
PER_ROUND = 500  # ROUNDS * PER_ROUND = 2,500 measured deliveries per server
GROWTH_ROUNDS = 4  # then rounds without emptying the queue in between


@dataclass
class Round:
    """One round of deliveries: how many, how long, each latency and the answers' statuses."""

    sent: int
    wall_s: float
    latencies_s: list[float]
    statuses: dict[int | str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sent / self.wall_s


def send_round(port: int, path: str, body: bytes, prefix: str, n: int, concurrency: int) -> Round:
    """POST n signed deliveries with `concurrency` keep-alive connections; time each answer."""
    counter = itertools.count()  # next() is atomic under the GIL
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        start.wait()
        mine, codes = [], []
        while (i := next(counter)) < n:
            headers = signed_headers("pull_request", body, f"{prefix}-{i:06d}")
            for attempt in (1, 2):  # a dropped connection is retried once, as a redelivery
                t0 = time.perf_counter()
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    mine.append(time.perf_counter() - t0)
                    codes.append(response.status)
                    break
                except OSError:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    codes.append("connection error" if attempt == 1 else "gave up")
        conn.close()
        with lock:
            latencies.extend(mine)
            for code in codes:
                statuses[code] = statuses.get(code, 0) + 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    return Round(n, time.perf_counter() - t0, latencies, statuses)


@dataclass
class LoadResult:
    """Every round against one server, and what the database stored for them."""

    server: str
    rounds: list[Round] = field(default_factory=list)  # measured rounds (warm-up excluded)
    sent: int = 0
    stored: Stored = field(default_factory=Stored)
    statuses: dict = field(default_factory=dict)

    def add(self, done: Round, stored: Stored, measured: bool) -> None:
        if measured:
            self.rounds.append(done)
        self.sent += done.sent
        self.stored = self.stored + stored
        for key, value in done.statuses.items():
            self.statuses[key] = self.statuses.get(key, 0) + value

    @property
    def lost(self) -> int:
        return max(0, self.sent - self.stored.deliveries)

    @property
    def duplicated(self) -> int:
        """Deliveries stored beyond those sent, or whose jobs are not exactly pr_review + pr_summary."""
        return max(0, self.stored.deliveries - self.sent) + (self.stored.deliveries - self.stored.complete)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0

    def rate(self) -> float:
        return median([r.rate for r in self.rounds])

    def p(self, q: float) -> float:
        return median([percentile(r.latencies_s, q) for r in self.rounds])


@dataclass
class Running:
    """A server started for the load test, with its port and results."""

    server: Server
    port: int
    result: LoadResult


def start_server(server: Server, url: str, workdir: Path, stack: ExitStack) -> Running:
    """Start a server, stop it when `stack` closes, and wait until it answers."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    proc = spawn(server, port, url, workdir, log)
    stack.callback(stop_process, proc)
    wait_until_answering(proc, port, server.path, log)
    return Running(server, port, LoadResult(server.name))


def run_round(running: Running, result: LoadResult, url: str, body: bytes, n: int, measured: bool) -> Round:
    """One round of n deliveries, then count what the database holds for them."""
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    done = send_round(running.port, running.server.path, body, prefix, n, CONCURRENCY)
    result.add(done, count_stored(url, prefix), measured)
    return done


def load_tests(url: str, workdir: Path, body: bytes) -> tuple[list[LoadResult], LoadResult, list[int]]:
    """Both servers up at once; rounds alternate between them, each from an empty queue.

    Then GROWTH_ROUNDS more rounds against the first server without emptying the queue,
    to show how the acknowledgement rate depends on the size of the jobs table.
    """
    with ExitStack() as stack:
        running = [start_server(server, url, workdir, stack) for server in servers()]
        for each in running:
            empty_queue(url)
            run_round(each, each.result, url, body, WARMUP, measured=False)
        for r in range(ROUNDS):
            for each in running if r % 2 == 0 else running[::-1]:  # alternate who goes first
                empty_queue(url)
                done = run_round(each, each.result, url, body, PER_ROUND, measured=True)
                print(f"  round {r + 1}/{ROUNDS} {each.server.name}: {done.rate:.0f} deliveries/s", file=sys.stderr)

        growth = LoadResult(f"{running[0].server.name}, queue not emptied")
        jobs_after = []
        empty_queue(url)
        for r in range(GROWTH_ROUNDS):
            done = run_round(running[0], growth, url, body, PER_ROUND, measured=True)
            jobs_after.append(count_jobs(url))
            print(
                f"  growth round {r + 1}/{GROWTH_ROUNDS}: {done.rate:.0f} deliveries/s, "
                f"{jobs_after[-1]} jobs in the table",
                file=sys.stderr,
            )
    return [each.result for each in running], growth, jobs_after


@dataclass
class Load:
    """The load test's results: both servers, the growth rounds, and the payload's size."""

    servers: list[LoadResult]
    growth: LoadResult
    jobs_after: list[int]  # jobs in the table after each growth round
    payload_bytes: int
