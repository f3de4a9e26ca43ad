"""Bounded closed-loop HTTP load generator for 127.0.0.1 only.

Each of N clients sends one request, waits for the answer, and sends the next, for D seconds.
Run it as its own process (``python -m bench.loadgen``) so it does not share an interpreter with the
server under test; it reports its own CPU use so a saturated generator is visible in the results.
"""

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bench.stats import summarize

MAX_CLIENTS = 256
MAX_DURATION_S = 30.0
MAX_REQUESTS = 200_000
REQUEST_TIMEOUT_S = 5.0
ALLOWED_HOST = "127.0.0.1"


# In a URL, replaced by a number of its own for each request: `/product-details/{n}` asks for a new product every
# time, so a BFF with a cache cannot answer from it.
REQUEST_NUMBER = "{n}"
_request_numbers = itertools.count(1)


class LoadLimitError(ValueError):
    """The requested load is outside the generator's hard limits."""


@dataclass(frozen=True, slots=True)
class LoadPlan:
    url: str
    clients: int
    duration_s: float
    max_requests: int = MAX_REQUESTS
    warmup_s: float = 0.5

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or parts.hostname != ALLOWED_HOST:
            raise LoadLimitError(f"only http://{ALLOWED_HOST} targets are allowed, got {self.url!r}")
        if not 1 <= self.clients <= MAX_CLIENTS:
            raise LoadLimitError(f"clients must be within 1..{MAX_CLIENTS}, got {self.clients}")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise LoadLimitError(f"duration must be within (0, {MAX_DURATION_S}] s, got {self.duration_s}")
        if not 1 <= self.max_requests <= MAX_REQUESTS:
            raise LoadLimitError(f"max_requests must be within 1..{MAX_REQUESTS}, got {self.max_requests}")
        if not 0 <= self.warmup_s <= MAX_DURATION_S:
            raise LoadLimitError(f"warmup must be within [0, {MAX_DURATION_S}] s, got {self.warmup_s}")


@dataclass(slots=True)
class Recorder:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())


async def _client_loop(session: aiohttp.ClientSession, plan: LoadPlan, stop_at: float, recorder: Recorder) -> None:
    while time.perf_counter() < stop_at and recorder.requests < plan.max_requests:
        started = time.perf_counter()
        try:
            async with session.get(plan.url.replace(REQUEST_NUMBER, str(next(_request_numbers)))) as response:
                await response.read()
                recorder.statuses[str(response.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as error:
            recorder.errors[type(error).__name__] += 1
        recorder.latencies_ms.append((time.perf_counter() - started) * 1000)


async def _run_phase(session: aiohttp.ClientSession, plan: LoadPlan, seconds: float) -> tuple[Recorder, float]:
    recorder = Recorder()
    started = time.perf_counter()
    stop_at = started + seconds
    async with asyncio.TaskGroup() as group:
        for _ in range(plan.clients):
            group.create_task(_client_loop(session, plan, stop_at, recorder))
    return recorder, time.perf_counter() - started


async def run_load(plan: LoadPlan) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=plan.clients)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if plan.warmup_s > 0:
            await _run_phase(session, plan, plan.warmup_s)
        cpu_started = time.process_time()
        recorder, elapsed_s = await _run_phase(session, plan, plan.duration_s)
        cpu_s = time.process_time() - cpu_started
    requests = recorder.requests
    return {
        "url": plan.url,
        "clients": plan.clients,
        "duration_s": round(elapsed_s, 3),
        "requests": requests,
        "requests_per_s": round(requests / elapsed_s, 1),
        "statuses": dict(recorder.statuses),
        "errors": dict(recorder.errors),
        "error_count": sum(recorder.errors.values())
        + sum(n for status, n in recorder.statuses.items() if not status.startswith("2")),
        "latency": summarize(recorder.latencies_ms).as_dict(),
        "generator_cpu_ms_per_request": round(cpu_s * 1000 / max(requests, 1), 4),
        "generator_cpu_utilization": round(cpu_s / elapsed_s, 3),
        "latencies_ms": [round(value, 3) for value in recorder.latencies_ms],
    }


def _parse_args(argv: list[str]) -> tuple[LoadPlan, Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--max-requests", type=int, default=MAX_REQUESTS)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    return LoadPlan(args.url, args.clients, args.duration, args.max_requests, args.warmup), args.out


def main(argv: list[str]) -> None:
    plan, out = _parse_args(argv)
    out.write_text(json.dumps(asyncio.run(run_load(plan))))


if __name__ == "__main__":
    main(sys.argv[1:])
