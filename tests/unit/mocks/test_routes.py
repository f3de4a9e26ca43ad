from __future__ import annotations

import time

import pytest

import inventory_service
import product_service
import reviews_service
from mockkit import create_app
from tests.unit.mocks.asgi_support import client_for, mock_app

pytestmark = pytest.mark.anyio


async def test_product_answers_the_reference_product() -> None:
    # Given the product mock
    async with client_for(mock_app(product_service.SPEC)) as client:
        # When a catalogue product is requested
        response = await client.get("/products/P001")

    # Then it answers the reference design's product, price in cents
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    product = response.json()
    assert product["id"] == "P001"
    assert product["name"] == "Awesome Gadget P001"
    assert product["price"] == 9999
    assert isinstance(product["description"], str)
    assert product["description"]


async def test_reviews_answers_alice_and_bob() -> None:
    async with client_for(mock_app(reviews_service.SPEC)) as client:
        response = await client.get("/reviews/P042")

    assert response.status_code == 200
    assert response.json() == [
        {"productId": "P042", "rating": 5, "comment": "Love it!", "author": "Alice"},
        {"productId": "P042", "rating": 4, "comment": "Pretty good.", "author": "Bob"},
    ]


async def test_inventory_stock_follows_the_reference_formula() -> None:
    async with client_for(mock_app(inventory_service.SPEC)) as client:
        response = await client.get("/inventory/P100")

    assert response.status_code == 200
    assert response.json() == {"productId": "P100", "stock": 10 + len("P100") % 5}


@pytest.mark.parametrize("product_id", ["P000", "P101", "p001", "anything"])
async def test_an_id_outside_the_catalogue_is_a_404_problem(product_id: str) -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        response = await client.get(f"/products/{product_id}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert product_id in response.json()["detail"]


async def test_the_id_is_percent_decoded_exactly_once() -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        # Given "P001" with its digits percent-encoded, and "P001" encoded twice
        decoded_once = await client.get("/products/P%30%30%31")
        double_encoded = await client.get("/products/P%2530%2530%2531")

    # Then the first names P001 and the second stays the unknown id "P%30%30%31"
    assert decoded_once.json()["id"] == "P001"
    assert double_encoded.status_code == 404
    assert "P%30%30%31" in double_encoded.json()["detail"]


async def test_an_encoded_slash_stays_inside_the_id() -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        response = await client.get("/products/P0%2F01")

    assert response.status_code == 404
    assert "P0/01" in response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/", "/products/", "/products/P001/extra", "/reviews/P001", "/reviews", "/__mock/nothing"]
)
async def test_other_paths_are_404(path: str) -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        response = await client.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD"])
async def test_other_methods_are_405_allowing_get(method: str) -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        response = await client.request(method, "/products/P001")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


async def test_the_correlation_id_is_echoed_on_every_answer() -> None:
    headers = {"X-Correlation-Id": "corr-123"}
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="error")) as client:
        failed = await client.get("/products/P001", headers=headers)
        missing_route = await client.get("/nowhere", headers=headers)
        without_header = await client.get("/products/P001")

    assert failed.headers["x-correlation-id"] == "corr-123"
    assert missing_route.headers["x-correlation-id"] == "corr-123"
    assert "x-correlation-id" not in without_header.headers


async def test_stats_count_service_requests_and_distinct_connections() -> None:
    # Given one mock reached by two clients, each on its own connection (client address and port)
    app = mock_app(inventory_service.SPEC)
    first = client_for(app, ("10.0.0.1", 40001))
    second = client_for(app, ("10.0.0.1", 40002))
    async with first, second:
        # When the first calls three times and the second once
        for _ in range(3):
            await first.get("/inventory/P001")
        await second.get("/inventory/P999")
        stats = await second.get("/__mock/stats")

    # Then four service requests over two connections were seen; the stats call itself is not counted
    assert (stats.json()["requests"], stats.json()["connections"]) == (4, 2)
    assert stats.json()["routes"] == {"GET /inventory/{id}": 4}


@pytest.mark.parametrize(("environ", "minimum_s"), [({}, 0.05), ({"MOCK_LATENCY_MS": "120"}, 0.12)])
async def test_answers_wait_for_the_configured_latency(environ: dict[str, str], minimum_s: float) -> None:
    # Given the product mock with its default 50 ms latency, or an override
    async with client_for(create_app(product_service.SPEC, environ)) as client:
        started = time.perf_counter()
        response = await client.get("/products/P001")
        elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert elapsed >= minimum_s


def test_each_service_declares_the_reference_latency() -> None:
    latencies = {
        module.SPEC.name: module.SPEC.default_latency_ms
        for module in (product_service, reviews_service, inventory_service)
    }

    assert latencies == {"product": 50, "reviews": 80, "inventory": 30}
