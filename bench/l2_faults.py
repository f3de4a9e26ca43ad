"""What a failing shared cache (L2) costs a page and a 50-id batch, and what six Accept-Language variants of one
page cost downstream.

Run with `.venv/bin/python -m bench.l2_faults` from the repository root: the app in process (httpx's ASGI transport)
against real mock processes at the reference latencies, with L2 on a local moto server (DynamoDB) or a redis-server,
reached directly, through a proxy that holds each answer 50 ms (over the 25 ms read timeout), or at a port that
accepts and never answers. Every measured page and batch uses fresh ids for the cache: a new L1 and an emptied L2.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

import bench.paths  # noqa: F401 - the BFF's sources, before its first import
from bff.composition import build_app, build_fragment_cache
from bff.config.services import variable
from bff.config.settings import Settings
from bff.downstream.http import OutboundHttp, create_http_client
from tests.support.fault_servers import black_hole_port, delaying_proxy
from tests.support.mock_processes import MockProcess, running_mock
from tests.support.moto_server import MotoServer, running_moto_server
from tests.support.redis_server import RedisServer, running_redis_server

REFERENCE_LATENCY_MS = {"product": "50", "reviews": "80", "inventory": "30"}
SLOW_L2_DELAY_S = 0.05
ROUNDS = 7
BATCH_IDS = [f"P{index:03d}" for index in range(1, 51)]
LANGUAGES = ["en-US", "de-DE", "de-AT,de;q=0.9", "fr-FR", "ja-JP", "x-133624295"]
TABLE = "FragmentCacheTable"


@contextmanager
def reference_mocks(log_dir: Path) -> Iterator[dict[str, MockProcess]]:
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(running_mock(name, log_dir, {"MOCK_LATENCY_MS": latency}))
            for name, latency in REFERENCE_LATENCY_MS.items()
        }


def settings_for(mocks: Mapping[str, MockProcess], cache: Mapping[str, str]) -> Settings:
    values: dict[str, object] = {variable(name, "base_url"): mock.base_url for name, mock in mocks.items()}
    values[variable("cart", "base_url")] = "http://127.0.0.1:9"
    return Settings.model_validate({**values, "PAGE_DEADLINE_MS": 500, **cache})


def requests_by_service(mocks: Mapping[str, MockProcess]) -> dict[str, int]:
    return {name: int(httpx.get(f"{mock.base_url}/__mock/stats").json()["requests"]) for name, mock in mocks.items()}


async def timed(settings: Settings, http: OutboundHttp, path: str, headers: Mapping[str, str] | None = None) -> Any:
    """One request to a new app (new L1, new L2 client warmed as init does) over the shared, warm HTTP pools."""
    cache = build_fragment_cache(settings)
    warm = getattr(cache.l2, "warm", None)
    if warm is not None:
        await warm(0.3)
    app = build_app(settings, http, cache)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.bench") as client:
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            elapsed_ms = (time.perf_counter() - started) * 1000
    finally:
        close = getattr(cache.l2, "close", None)
        if close is not None:
            await close()
    return elapsed_ms, response


def statuses_of(response: httpx.Response) -> dict[str, int]:
    if "items" not in response.json():
        return {str(response.status_code): 1}
    return dict(Counter(str(item["status"]) for item in response.json()["items"]))


async def page_and_batch(settings: Settings, http: OutboundHttp, reset: Any) -> dict[str, Any]:
    pages, batches, statuses = [], [], Counter[str]()
    for round_number in range(ROUNDS):
        reset()
        elapsed_ms, response = await timed(settings, http, f"/product-details/P{round_number + 60:03d}")
        pages.append(elapsed_ms)
        statuses.update({f"page {key}": value for key, value in statuses_of(response).items()})
        reset()
        elapsed_ms, response = await timed(settings, http, "/product-details?ids=" + ",".join(BATCH_IDS))
        batches.append(elapsed_ms)
        statuses.update({f"batch item {key}": value for key, value in statuses_of(response).items()})
    return {
        "page_p50_ms": round(statistics.median(pages), 1),
        "batch_50_p50_ms": round(statistics.median(batches), 1),
        "statuses": dict(statuses),
    }


async def language_variants(settings: Settings, http: OutboundHttp, mocks: Mapping[str, MockProcess]) -> dict[str, Any]:
    """Six Accept-Language variants of P001 through one app (L1 and L2 as configured): downstream calls."""
    before = requests_by_service(mocks)
    cache = build_fragment_cache(settings)
    warm = getattr(cache.l2, "warm", None)
    if warm is not None:
        await warm(2.0)
    app = build_app(settings, http, cache)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.bench") as client:
        prices = []
        for language in LANGUAGES:
            response = await client.get("/product-details/P001", headers={"accept-language": language})
            prices.append(response.json()["product"]["priceFormatted"])
    close = getattr(cache.l2, "close", None)
    if close is not None:
        await close()
    after = requests_by_service(mocks)
    return {"calls": {name: after[name] - before[name] for name in mocks}, "prices": prices}


def l2_keys(moto: MotoServer) -> list[str]:
    from tools.local_aws import dynamodb_client  # noqa: PLC0415

    items = dynamodb_client(moto.endpoint_url, "eu-west-1").scan(TableName=moto.table_name(TABLE))["Items"]
    return sorted(str(item["pk"]["S"]) for item in items)


async def measure(mocks: Mapping[str, MockProcess], moto: MotoServer, redis: RedisServer | None) -> dict[str, Any]:
    import os  # noqa: PLC0415

    os.environ.update(moto.environment())
    moto_port = int(moto.endpoint_url.rsplit(":", 1)[1])
    table = {"CACHE_TABLE_NAME": moto.table_name(TABLE)}
    results: dict[str, Any] = {}
    async with create_http_client(settings_for(mocks, {})) as http:
        await timed(settings_for(mocks, {}), http, "/product-details/P099")  # opens the downstream connections
        results["no_l2"] = await page_and_batch(settings_for(mocks, {}), http, lambda: None)
        with black_hole_port() as port:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{port}"
            results["dynamodb_hung"] = await page_and_batch(settings_for(mocks, table), http, lambda: None)
        with delaying_proxy(moto_port, SLOW_L2_DELAY_S) as proxy:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{proxy.port}"
            results["dynamodb_slow_50ms"] = await page_and_batch(settings_for(mocks, table), http, moto.reset)
        if redis is not None:
            with black_hole_port() as port:
                hung = {"CACHE_URL": f"redis://127.0.0.1:{port}/0"}
                results["redis_hung"] = await page_and_batch(settings_for(mocks, hung), http, lambda: None)
            with delaying_proxy(redis.port, SLOW_L2_DELAY_S) as proxy:
                slow = {"CACHE_URL": f"redis://127.0.0.1:{proxy.port}/0"}
                results["redis_slow_50ms"] = await page_and_batch(
                    settings_for(mocks, slow), http, lambda: redis.command("FLUSHDB")
                )
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = moto.endpoint_url
        moto.reset()
        # Moto is Python in this process's thread: its reads take 5-20 ms, so its timeouts are wider here.
        healthy = {**table, "CACHE_L2_TIMEOUT_MS": "250", "CACHE_L2_WRITE_TIMEOUT_MS": "250"}
        variants = await language_variants(settings_for(mocks, healthy), http, mocks)
        variants["l2_keys"] = l2_keys(moto)
        results["six_languages_one_page"] = variants
    for name in ("dynamodb_hung", "dynamodb_slow_50ms", "redis_hung", "redis_slow_50ms"):
        if name in results:
            results[name]["page_added_ms"] = round(results[name]["page_p50_ms"] - results["no_l2"]["page_p50_ms"], 1)
            results[name]["batch_added_ms"] = round(
                results[name]["batch_50_p50_ms"] - results["no_l2"]["batch_50_p50_ms"], 1
            )
    return results


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="write the JSON document here instead of printing it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-l2-") as work_dir, ExitStack() as stack:
        mocks = stack.enter_context(reference_mocks(Path(work_dir)))
        moto = stack.enter_context(running_moto_server())
        binary = shutil.which("redis-server")
        redis = stack.enter_context(running_redis_server(binary, Path(work_dir))) if binary else None
        results = asyncio.run(measure(mocks, moto, redis))
    results["reference_latency_ms"] = {name: int(value) for name, value in REFERENCE_LATENCY_MS.items()}
    document = json.dumps(results, indent=2)
    if args.out is None:
        print(document)
    else:
        args.out.write_text(document)


if __name__ == "__main__":
    main(sys.argv[1:])
