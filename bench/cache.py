"""What the fragment cache buys: page latency with L1 hits, L2 hits (a local moto server) and misses, and the
downstream calls saved over 1,000 requests spread over 100 ids.

Run with `.venv/bin/python -m bench.cache` from the repository root (`--hit-ratio` for the calls saved alone, which
`make bench` runs as its `hitratio` case): the app in process (httpx's ASGI transport),
against real mock processes at the reference latencies (product 50 ms, reviews 80 ms, inventory 30 ms). Prints one
JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

import bench.paths  # noqa: F401 - the BFF's sources, before its first import
from bff.cache.dynamodb import DynamoDbStore
from bff.cache.memory import MemoryStore
from bff.cache.tiered import TieredCache
from bff.composition import build_app
from bff.config.services import variable
from bff.config.settings import Settings
from bff.downstream.http import create_http_client
from tests.support.mock_processes import MockProcess, running_mock
from tests.support.moto_server import MotoServer, running_moto_server

REFERENCE_LATENCY_MS = {"product": "50", "reviews": "80", "inventory": "30"}
SAMPLES = 200
REQUESTS, IDS, CONCURRENCY = 1_000, 100, 10
# Moto is Python in this process's thread: its reads take 5-20 ms, not DynamoDB's few.
MOTO_TIMEOUT_MS = 250


@contextmanager
def reference_mocks(log_dir: Path) -> Iterator[dict[str, MockProcess]]:
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(running_mock(name, log_dir, {"MOCK_LATENCY_MS": latency}))
            for name, latency in REFERENCE_LATENCY_MS.items()
        }


def settings_for(mocks: Mapping[str, MockProcess], **overrides: object) -> Settings:
    values: dict[str, object] = {variable(name, "base_url"): mock.base_url for name, mock in mocks.items()}
    values[variable("cart", "base_url")] = "http://127.0.0.1:9"
    values |= {"PAGE_DEADLINE_MS": 1_000, **{key.upper(): value for key, value in overrides.items()}}
    return Settings.model_validate(values)


def downstream_requests(mocks: Mapping[str, MockProcess]) -> int:
    return sum(int(httpx.get(f"{mock.base_url}/__mock/stats").json()["requests"]) for mock in mocks.values())


async def page_latencies_ms(settings: Settings, cache: TieredCache, paths: list[str], *, prime: bool) -> list[float]:
    """Each page's latency, one after another; `prime` serves each path once first (not measured)."""
    async with create_http_client(settings) as downstream:
        app = build_app(settings, downstream, cache)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bff.bench") as client:
            await client.get("/product-details/WARM-UP")  # opens the connections
            if prime:
                for path in dict.fromkeys(paths):
                    await client.get(path)
            latencies = []
            for path in paths:
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
            return latencies


async def spread_load(settings: Settings, cache: TieredCache) -> dict[str, int]:
    """REQUESTS pages over IDS ids, CONCURRENCY at a time, in a seeded random order; the count of each status."""
    chooser = random.Random(10)
    paths = [f"/product-details/P{chooser.randrange(IDS) + 1:03d}" for _ in range(REQUESTS)]
    limit = asyncio.Semaphore(CONCURRENCY)
    statuses: dict[str, int] = {}
    async with create_http_client(settings) as downstream:
        app = build_app(settings, downstream, cache)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.bench") as client:

            async def one(path: str) -> None:
                async with limit:
                    response = await client.get(path)
                degraded = response.status_code == 200 and response.json()["meta"]["degraded"]
                label = f"{response.status_code}{' degraded' if degraded else ''}"
                statuses[label] = statuses.get(label, 0) + 1

            await asyncio.gather(*(one(path) for path in paths))
    return statuses


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 2),
        "samples": len(ordered),
    }


async def l2_cache(moto: MotoServer) -> TieredCache:
    timeout_s = MOTO_TIMEOUT_MS / 1000
    store = DynamoDbStore(moto.table_name("FragmentCacheTable"), get_timeout_s=timeout_s, put_timeout_s=timeout_s)
    await store.warm()
    return TieredCache(MemoryStore(0), store)


async def measure(mocks: Mapping[str, MockProcess], moto: MotoServer) -> dict[str, Any]:
    settings = settings_for(mocks)
    same_page = ["/product-details/P001"] * SAMPLES
    ids = [f"/product-details/P{index % IDS + 1:03d}" for index in range(SAMPLES)]  # the mocks know P001-P100
    results: dict[str, Any] = {
        "misses": summary(await page_latencies_ms(settings, TieredCache(MemoryStore(0)), ids, prime=False)),
        "l1_hits": summary(await page_latencies_ms(settings, TieredCache(MemoryStore(1_000)), same_page, prime=True)),
    }
    # L2 hits: an empty L1 in front of the shared table, primed with the same ids (entries stay fresh for the
    # run but inventory's 5 s: pages are timed in chunks primed right before, so that every section hits).
    l2_latencies: list[float] = []
    for start in range(0, SAMPLES, 20):
        chunk = ids[start : start + 20]
        l2_latencies += await page_latencies_ms(settings, await l2_cache(moto), chunk, prime=True)
    results["l2_hits_moto"] = summary(l2_latencies)

    results["downstream_calls_over_1000_requests_100_ids"] = await calls_saved(settings, mocks)
    return results


async def calls_saved(settings: Settings, mocks: Mapping[str, MockProcess]) -> dict[str, Any]:
    """The spread load twice, without a cache and with L1 alone: the downstream calls each made, and the share of
    calls L1 saved (the L1 hit ratio the cost model uses: each miss is one call, hedges alike in both runs)."""
    calls: dict[str, Any] = {}
    for label, cache in (("without_cache", TieredCache(MemoryStore(0))), ("with_l1", TieredCache(MemoryStore(1_000)))):
        before, started = downstream_requests(mocks), time.perf_counter()
        statuses = await spread_load(settings, cache)
        calls[label] = {
            "downstream_calls": downstream_requests(mocks) - before,
            "pages": statuses,
            "seconds": round(time.perf_counter() - started, 1),
        }
    without, with_l1 = calls["without_cache"]["downstream_calls"], calls["with_l1"]["downstream_calls"]
    calls["saved"] = without - with_l1
    calls["l1_hit_ratio"] = round(1 - with_l1 / without, 3) if without else None
    return calls


async def hit_ratio(mocks: Mapping[str, MockProcess]) -> dict[str, Any]:
    return await calls_saved(settings_for(mocks), mocks)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hit-ratio", action="store_true", help="only the calls L1 saves under the spread load")
    parser.add_argument("--out", type=Path, help="write the JSON document here instead of printing it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as log_dir, ExitStack() as stack:
        mocks = stack.enter_context(reference_mocks(Path(log_dir)))
        if args.hit_ratio:
            results = asyncio.run(hit_ratio(mocks))
        else:
            moto = stack.enter_context(running_moto_server())
            os.environ.update(moto.environment())
            results = asyncio.run(measure(mocks, moto))
    results["reference_latency_ms"] = {name: int(value) for name, value in REFERENCE_LATENCY_MS.items()}
    document = json.dumps(results, indent=2)
    if args.out is None:
        print(document)
    else:
        args.out.write_text(document)


if __name__ == "__main__":
    main(sys.argv[1:])
