"""The fleet's shared breaker across separate BFF processes (each a fresh interpreter importing the real handler,
as a Lambda environment does), sharing a moto server (DynamoDB) or a redis-server, against a reviews mock that
fails every call. Calls are counted at the mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.cache.test_shared_cache_processes import Invocation, run_bff
from tests.support.fault_servers import refusing_port
from tests.support.mock_processes import MockProcess, MockServiceFactory
from tests.support.moto_server import MotoServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

TABLE = "FragmentCacheTable"
# One attempt per call and no hedge, so that every call the breaker allows is one request at the mock; an open
# period longer than two process starts, so that no probe falls within the test.
ONE_ATTEMPT = {"RETRY_MAX_ATTEMPTS": "1", "REVIEW_HEDGE_DELAY_MS": "0", "BREAKER_OPEN_MS": "30000"}
# Twelve pages of 300 ms or more: room for a failure report whose sync a loaded machine cut off to go out with a
# later page (a cut sync waits a second).
PAGES = [f"/product-details/P{index + 11:03d}" for index in range(12)]


@pytest.fixture
def mocks(mock_service_factory: MockServiceFactory) -> dict[str, MockProcess]:
    """Fresh mocks; reviews answers every call with a 5xx. Product takes 300 ms, so that each page lasts long
    enough for its sync with a loaded moto server to finish (a sync never outlives its page)."""
    return {
        "product": mock_service_factory("product", MOCK_LATENCY_MS="300"),
        "reviews": mock_service_factory("reviews", MOCK_LATENCY_MS="0", MOCK_FAULT="error"),
        "inventory": mock_service_factory("inventory", MOCK_LATENCY_MS="30"),
    }


@pytest.fixture
def event_path(tmp_path: Any) -> Any:
    from tests.support.tooling import REPO_ROOT  # noqa: PLC0415

    path = tmp_path / "event.json"
    path.write_text((REPO_ROOT / "events" / "bff-v2-P001.json").read_text())
    return path


@pytest.fixture
def dynamodb(moto_server: MotoServer) -> Iterator[dict[str, str]]:
    """The shared store on the moto server's fragment table, emptied before and after (the session's other tests
    share that table, and must not find reviews open fleet-wide); moto answers in 5-20 ms, so its timeouts are
    wider than DynamoDB would need."""
    moto_server.reset()
    yield {
        **moto_server.environment(),
        "CACHE_TABLE_NAME": moto_server.table_name(TABLE),
        "CACHE_L2_TIMEOUT_MS": "250",
        "CACHE_L2_WRITE_TIMEOUT_MS": "250",
        "SHARED_BREAKER_TIMEOUT_MS": "1000",
    }
    moto_server.reset()


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[dict[str, str]]:
    """The shared store on the session's redis-server, flushed before and after; a loaded machine's interpreter
    start can hold a 50 ms read back, so the fleet's reads get 1 s here, as moto's do."""
    redis_server.command("FLUSHDB")
    yield {"CACHE_URL": redis_server.url, "SHARED_BREAKER_TIMEOUT_MS": "1000"}
    redis_server.command("FLUSHDB")


def reviews_requests(mocks: dict[str, MockProcess]) -> int:
    stats: dict[str, Any] = httpx.get(f"{mocks['reviews'].base_url}/__mock/stats").json()
    requests: int = stats["requests"]
    return requests


def degraded_reasons(invocations: list[Invocation]) -> list[str]:
    return [
        next(item["reason"] for item in invocation.body["meta"]["degraded"] if item["source"] == "reviews")
        for invocation in invocations
    ]


@pytest.mark.parametrize("backend", ["dynamodb", "redis"])
def test_a_fresh_process_skips_a_service_another_process_found_dead(
    mocks: dict[str, MockProcess], event_path: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    # (one environment alone trips the fleet only by repeats: its 2nd to 5th failures are 4 repeats. Windows are
    # fixed, so a boundary may split them; a 20 s window and a threshold of 2 put at least 2 in one window however
    # slowly a loaded machine serves the pages)
    store: dict[str, str] = {
        **request.getfixturevalue(backend),
        **ONE_ATTEMPT,
        "SHARED_BREAKER_FAILURES": "2",
        "SHARED_BREAKER_WINDOW_MS": "20000",
    }
    # Given one process whose pages found reviews failing until its breakers opened (locally and fleet-wide)
    first = run_bff(mocks, event_path, store, *PAGES)
    calls_by_first = reviews_requests(mocks)
    assert 2 <= calls_by_first <= 5
    assert degraded_reasons(first)[-1] == "circuit_open"
    # When a second, fresh process, which has never called reviews, serves pages
    second = run_bff(mocks, event_path, store, *PAGES)
    # Then it never called reviews: every page was answered with reviews skipped as circuit_open
    assert reviews_requests(mocks) == calls_by_first
    assert [invocation.status for invocation in second] == [200] * len(PAGES)
    assert degraded_reasons(second) == ["circuit_open"] * len(PAGES)


def test_a_second_process_with_shared_breaker_off_calls_the_dead_service_itself(
    mocks: dict[str, MockProcess], event_path: Any, redis: dict[str, str]
) -> None:
    store = {**redis, **ONE_ATTEMPT, "SHARED_BREAKER": "off"}
    run_bff(mocks, event_path, store, *PAGES)
    assert reviews_requests(mocks) == 5
    run_bff(mocks, event_path, store, *PAGES)
    assert reviews_requests(mocks) == 10


def test_with_the_store_down_the_local_breaker_still_trips(mocks: dict[str, MockProcess], event_path: Any) -> None:
    # Given a shared store that refuses every connection
    with refusing_port() as port:
        store = {"CACHE_URL": f"redis://127.0.0.1:{port}/0", **ONE_ATTEMPT}
        # When a process serves pages while reviews fails every call
        invocations = run_bff(mocks, event_path, store, *PAGES)
    # Then its local breaker opened after its threshold (5) and the rest were skipped; every page was answered
    assert reviews_requests(mocks) == 5
    assert [invocation.status for invocation in invocations] == [200] * len(PAGES)
    assert degraded_reasons(invocations)[5:] == ["circuit_open"] * (len(PAGES) - 5)
