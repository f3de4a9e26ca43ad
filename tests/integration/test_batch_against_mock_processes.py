"""The batch route against real mock processes: one call per service, per-item statuses, the concurrency bound."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.mock_processes import MockProcess, MockServiceFactory
from tests.support.resilience import NO_HEDGING, bff_client, urls_with

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PAGE_SERVICES = ("product", "reviews", "inventory")
TWENTY_FOUR = [f"P{number:03d}" for number in range(1, 25)]


def stats_of(mock: MockProcess) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{mock.base_url}/__mock/stats").json()
    return stats


def fresh_mocks(start: MockServiceFactory, **faults: dict[str, str]) -> dict[str, MockProcess]:
    return {name: start(name, **faults.get(name, {})) for name in (*PAGE_SERVICES, "cart")}


async def test_a_24_id_batch_makes_one_call_per_service(mock_service_factory: MockServiceFactory) -> None:
    # Given fresh mocks (their counters at zero)
    mocks = fresh_mocks(mock_service_factory)
    async with bff_client(urls_with(mocks), **NO_HEDGING) as client:
        # When a listing page asks for 24 products at once
        response = await client.get(f"/product-details?ids={','.join(TWENTY_FOUR)}")
    # Then every item is there, in order, and each service saw exactly one batch call of 24 ids
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == TWENTY_FOUR
    assert {item["status"] for item in response.json()["items"]} == {200}
    collections = {"product": "/products", "reviews": "/reviews", "inventory": "/inventory"}
    for name in PAGE_SERVICES:
        stats = stats_of(mocks[name])
        assert stats["routes"] == {f"GET {collections[name]}": 1}, name
        assert stats["batchSizes"] == [24], name
    assert stats_of(mocks["cart"])["requests"] == 0


async def test_unknown_ids_and_a_failing_service_give_per_item_statuses(
    mock_service_factory: MockServiceFactory,
) -> None:
    # Given an inventory service that fails every call
    mocks = fresh_mocks(mock_service_factory, inventory={"MOCK_FAULT": "error"})
    async with bff_client(urls_with(mocks), **NO_HEDGING) as client:
        # When the batch mixes known and unknown ids
        response = await client.get("/product-details?ids=P001,missing1,P002,nope-2")
    # Then the batch is a 200, the unknown ids are the single route's 404 problems, and the known ones are
    # served with inventory null and the degradation in their own meta
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    items = {item["id"]: item for item in response.json()["items"]}
    assert [item["status"] for item in response.json()["items"]] == [200, 404, 200, 404]
    for known in ("P001", "P002"):
        page = items[known]["page"]
        assert page["inventory"] is None
        assert page["reviews"] is not None
        assert page["meta"]["degraded"] == [{"source": "inventory", "reason": "unavailable"}]
    for unknown in ("missing1", "nope-2"):
        assert items[unknown]["problem"]["type"] == "urn:product-bff:problem:product-not-found"
        assert items[unknown]["problem"]["instance"] == f"/product-details/{unknown}"
    assert response.json()["meta"] == {"requested": 4, "succeeded": 2, "failed": 2, "degraded": 2}


async def test_a_service_without_a_batch_path_stays_within_the_concurrency_bound(
    mock_service_factory: MockServiceFactory,
) -> None:
    # Given reviews without a batch path (per-id calls), slow enough for calls to overlap, and a bound of 4
    mocks = fresh_mocks(mock_service_factory, reviews={"MOCK_LATENCY_MS": "40"})
    async with bff_client(
        urls_with(mocks), reviews_batch_path="", batch_concurrency=4, page_deadline_ms=3000, **NO_HEDGING
    ) as client:
        response = await client.get(f"/product-details?ids={','.join(TWENTY_FOUR)}")
    assert {item["status"] for item in response.json()["items"]} == {200}
    assert all(item["page"]["reviews"] is not None for item in response.json()["items"])
    # Then reviews saw one call per id, never more than 4 at once; the others still one batch call each
    reviews = stats_of(mocks["reviews"])
    assert reviews["routes"] == {"GET /reviews/{id}": 24}
    assert 1 < reviews["maxInFlight"] <= 4
    assert stats_of(mocks["product"])["routes"] == {"GET /products": 1}
