from __future__ import annotations

import time

import pytest

import inventory_service
import product_service
import reviews_service
from mockkit import ServiceSpec, create_app
from mockkit.ids import MAX_BATCH_IDS
from tests.unit.mocks.asgi_support import client_for, mock_app

pytestmark = pytest.mark.anyio

SPECS = [product_service.SPEC, reviews_service.SPEC, inventory_service.SPEC]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
async def test_a_batch_answers_each_known_id_as_the_single_route_does(spec: ServiceSpec) -> None:
    # Given a mock
    async with client_for(mock_app(spec)) as client:
        # When two catalogue ids are asked for at once, and each alone
        batch = await client.get(f"/{spec.collection}", params={"ids": "P001,P042"})
        singles = {pid: (await client.get(f"/{spec.collection}/{pid}")).json() for pid in ("P001", "P042")}

    # Then the batch maps each id to the single route's document
    assert batch.status_code == 200
    assert batch.headers["content-type"] == "application/json"
    assert batch.json() == singles


async def test_a_batch_leaves_out_unknown_ids() -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        response = await client.get("/products?ids=P999,P002,P000")

    assert response.status_code == 200
    assert response.json() == {"P002": product_service.describe_product("P002")}


async def test_a_batch_of_only_unknown_ids_is_an_empty_object() -> None:
    async with client_for(mock_app(reviews_service.SPEC)) as client:
        response = await client.get("/reviews?ids=nope")

    assert (response.status_code, response.json()) == (200, {})


async def test_an_encoded_comma_separates_ids_too() -> None:
    async with client_for(mock_app(inventory_service.SPEC)) as client:
        response = await client.get("/inventory?ids=P001%2CP003")

    assert sorted(response.json()) == ["P001", "P003"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("ids=P001,bad!id", "bad!id"),
        ("ids=P001,,P002", "''"),
        ("ids=", "''"),
        ("ids=-P001", "-P001"),
        ("ids=" + "P" * 65, "P" * 65),
        ("ids=P001%0A", "'P001\\n'"),
        ("", "exactly one query parameter"),
        ("ids=P001&ids=P002", "exactly one query parameter"),
        ("ids=P001&extra=1", "exactly one query parameter"),
    ],
)
async def test_an_invalid_batch_is_a_400_problem_naming_the_fault(query: str, named: str) -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        response = await client.get(f"/products?{query}")

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 400
    assert named in response.json()["detail"]


async def test_a_batch_takes_at_most_one_hundred_ids() -> None:
    ids = [f"P{number:03d}" for number in range(1, MAX_BATCH_IDS + 2)]
    async with client_for(mock_app(product_service.SPEC)) as client:
        # When exactly the limit is asked for, and one id more
        at_limit = await client.get("/products", params={"ids": ",".join(ids[:MAX_BATCH_IDS])})
        beyond = await client.get("/products", params={"ids": ",".join(ids)})

    assert (at_limit.status_code, len(at_limit.json())) == (200, MAX_BATCH_IDS)
    assert beyond.status_code == 400
    assert str(MAX_BATCH_IDS + 1) in beyond.json()["detail"]


async def test_a_batch_waits_one_latency_not_one_per_id() -> None:
    # Given the product mock with a 100 ms latency
    app = create_app(product_service.SPEC, {"MOCK_LATENCY_MS": "100"})
    ids = ",".join(f"P{number:03d}" for number in range(1, 25))
    async with client_for(app) as client:
        # When 24 ids are asked for in one call
        started = time.perf_counter()
        response = await client.get("/products", params={"ids": ids})
        elapsed = time.perf_counter() - started

    # Then the answer took one latency, far less than 24
    assert len(response.json()) == 24
    assert 0.1 <= elapsed < 0.5


@pytest.mark.parametrize(("fault", "status"), [("error", 500), ("429", 429), ("flaky:1", 503)])
async def test_faults_apply_to_a_batch_as_to_a_single_call(fault: str, status: int) -> None:
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT=fault)) as client:
        response = await client.get("/products?ids=P001,P002")

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_huge_batch_is_still_an_object() -> None:
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="huge")) as client:
        response = await client.get("/products?ids=P001")

    assert len(response.content) >= 2 * 1024 * 1024
    assert response.json()["P001"] == product_service.describe_product("P001")


async def test_malformed_batch_is_a_truncated_object() -> None:
    async with client_for(mock_app(reviews_service.SPEC, MOCK_FAULT="malformed")) as client:
        response = await client.get("/reviews?ids=P001")

    assert response.status_code == 200
    assert response.content.startswith(b'{"P001":[')
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        response.json()


async def test_stats_count_batch_calls_apart_from_single_calls_with_their_sizes() -> None:
    # Given a mock called once per id and twice in batches (one of them refused)
    async with client_for(mock_app(inventory_service.SPEC)) as client:
        await client.get("/inventory/P001")
        await client.get("/inventory/P002")
        await client.get("/inventory?ids=P001,P002,P003")
        await client.get("/inventory?ids=bad!")
        stats = (await client.get("/__mock/stats")).json()

    # Then each route has its own count, and the valid batch its size
    assert stats["requests"] == 4
    assert stats["routes"] == {"GET /inventory/{id}": 2, "GET /inventory": 2}
    assert stats["batchSizes"] == [3]


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_the_batch_route_allows_only_get(method: str) -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        response = await client.request(method, "/products?ids=P001")

    assert (response.status_code, response.headers["allow"]) == (405, "GET")
