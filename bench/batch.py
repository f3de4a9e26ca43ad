"""A listing page of 24 products: one batch request against 24 single-page requests, in process against real mock
processes at their reference latencies (product 50 ms, reviews 80 ms, inventory 30 ms).

Run: `.venv/bin/python -m bench.batch [--rounds 20]`. Prints one JSON document: per
scenario, the p50/p90/max wall time of the whole listing (ms) and the downstream calls it made (the mocks' own
counts). The fragment cache is off (every `{NAME}_CACHE_TTL_S=0`), so every round is all misses; hedging and
retries keep their defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

import bench.paths  # noqa: F401 - the BFF's sources, before its first import
from bff.composition import build_app
from bff.config.services import SERVICES
from bff.downstream.http import create_http_client
from tests.support.mock_processes import MockProcess, running_mock
from tests.support.settings import settings_for

IDS = [f"P{number:03d}" for number in range(1, 25)]
NO_CACHE = {f"{name}_cache_ttl_s": 0 for name in SERVICES}
NO_BATCH_PATHS = {f"{name}_batch_path": "" for name in SERVICES}

type Listing = Callable[[httpx.AsyncClient], Awaitable[list[int]]]


async def singles_at_once(client: httpx.AsyncClient) -> list[int]:
    responses = await asyncio.gather(*(client.get(f"/product-details/{product_id}") for product_id in IDS))
    return [response.status_code for response in responses]


async def singles_one_after_another(client: httpx.AsyncClient) -> list[int]:
    return [(await client.get(f"/product-details/{product_id}")).status_code for product_id in IDS]


async def one_batch(client: httpx.AsyncClient) -> list[int]:
    response = await client.get(f"/product-details?ids={','.join(IDS)}")
    return [item["status"] for item in response.json()["items"]]


def calls_seen(mocks: dict[str, MockProcess]) -> int:
    return sum(int(httpx.get(f"{mock.base_url}/__mock/stats").json()["requests"]) for mock in mocks.values())


async def measure(
    mocks: dict[str, MockProcess], listing: Listing, rounds: int, **settings: object
) -> dict[str, float | int]:
    config = settings_for({name: mock.base_url for name, mock in mocks.items()}, **NO_CACHE, **settings)
    walls_ms: list[float] = []
    calls: list[int] = []
    async with create_http_client(config) as downstream:
        app = build_app(config, downstream)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
            await listing(client)  # warm: connections open, breakers and estimates settled
            for _ in range(rounds):
                before = calls_seen(mocks)
                started = time.perf_counter()
                statuses = await listing(client)
                walls_ms.append((time.perf_counter() - started) * 1000)
                calls.append(calls_seen(mocks) - before)
                if set(statuses) != {200}:
                    raise RuntimeError(f"unexpected statuses {statuses}")
    ordered = sorted(walls_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
        "downstream_calls": round(statistics.median(calls)),
        "bff_requests": 1 if listing is one_batch else len(IDS),
    }


async def run(rounds: int, log_dir: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        mocks = {name: stack.enter_context(running_mock(name, log_dir)) for name in SERVICES if name != "cart"}
        return {
            "ids": len(IDS),
            "rounds": rounds,
            "24 single pages, all at once": await measure(mocks, singles_at_once, rounds),
            "24 single pages, one after another": await measure(mocks, singles_one_after_another, rounds),
            "1 batch, downstream batch endpoints": await measure(mocks, one_batch, rounds),
            "1 batch, no downstream batch endpoints (BATCH_CONCURRENCY=16)": await measure(
                mocks, one_batch, rounds, **NO_BATCH_PATHS
            ),
        }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    logging.getLogger("product-bff").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as log_dir, contextlib.redirect_stdout(io.StringIO()):
        result = asyncio.run(run(args.rounds, Path(log_dir)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
