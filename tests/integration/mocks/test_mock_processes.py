"""The mocks as real processes over real sockets: the faults only a network connection can show."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.support.mock_processes import MockServiceFactory, MockStartupError, running_mock

pytestmark = pytest.mark.integration


def test_a_hanging_mock_times_the_client_out_and_logs_its_departure(
    mock_service_factory: MockServiceFactory,
) -> None:
    # Given a hanging product mock
    product = mock_service_factory("product", MOCK_FAULT="hang")

    # When a client gives up after 300 ms
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{product.base_url}/products/P001", headers={"X-Correlation-Id": "gave-up"}, timeout=0.3)

    # Then the mock notices the closed connection and logs a disconnect for that request
    line = product.wait_for_log_line(lambda line: line["event"] == "disconnect")
    assert line["correlation_id"] == "gave-up"
    assert line["status"] is None


def test_a_slow_body_arrives_headers_first_then_over_about_a_second(
    mock_service_factory: MockServiceFactory,
) -> None:
    reviews = mock_service_factory("reviews", MOCK_FAULT="slow-body", MOCK_LATENCY_MS="0")

    started = time.perf_counter()
    with httpx.stream("GET", f"{reviews.base_url}/reviews/P001", timeout=5) as response:
        headers_after = time.perf_counter() - started
        body = response.read()
    body_after = time.perf_counter() - started

    assert response.status_code == 200
    assert headers_after < 0.5
    assert 0.9 <= body_after < 3
    assert [review["author"] for review in json.loads(body)] == ["Alice", "Bob"]


def test_a_huge_body_is_two_mebibytes_of_valid_json(mock_service_factory: MockServiceFactory) -> None:
    inventory = mock_service_factory("inventory", MOCK_FAULT="huge")

    response = httpx.get(f"{inventory.base_url}/inventory/P001", timeout=5)

    assert response.status_code == 200
    assert len(response.content) >= 2 * 1024 * 1024
    assert response.json()["productId"] == "P001"


def test_a_reset_breaks_the_connection_midway(mock_service_factory: MockServiceFactory) -> None:
    product = mock_service_factory("product", MOCK_FAULT="reset")

    with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
        httpx.get(f"{product.base_url}/products/P001", timeout=3)

    assert product.wait_for_log_line(lambda line: line["event"] == "reset")["status"] == 200


def test_429_carries_the_configured_retry_after(mock_service_factory: MockServiceFactory) -> None:
    product = mock_service_factory("product", MOCK_FAULT="429", MOCK_RETRY_AFTER_S="3")

    response = httpx.get(f"{product.base_url}/products/P001", timeout=3)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"


def test_stats_tell_a_reused_connection_from_new_ones(mock_service_factory: MockServiceFactory) -> None:
    # Given a mock and a client that keeps its connection alive across calls
    inventory = mock_service_factory("inventory", MOCK_LATENCY_MS="0")
    with httpx.Client(base_url=inventory.base_url, timeout=3) as pooled:
        for product_id in ("P001", "P002", "P003"):
            pooled.get(f"/inventory/{product_id}")
    # When another client calls once on a connection of its own
    httpx.get(f"{inventory.base_url}/inventory/P004", timeout=3)

    # Then the mock saw four requests over two connections
    stats = httpx.get(f"{inventory.base_url}/__mock/stats", timeout=3).json()
    assert (stats["requests"], stats["connections"]) == (4, 2)


def test_trace_headers_reach_the_log_and_the_correlation_id_comes_back(
    mock_service_factory: MockServiceFactory,
) -> None:
    product = mock_service_factory("product")
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    response = httpx.get(
        f"{product.base_url}/products/P001",
        headers={"X-Correlation-Id": "corr-9", "traceparent": traceparent},
        timeout=3,
    )

    assert response.headers["x-correlation-id"] == "corr-9"
    line = product.wait_for_log_line(lambda line: line["correlation_id"] == "corr-9")
    assert line["traceparent"] == traceparent
    assert line["duration_ms"] >= 50


def test_a_bad_setting_stops_the_mock_at_startup_with_its_reason(tmp_path: Path) -> None:
    with (
        pytest.raises(MockStartupError, match=r"MOCK_ERROR_RATE='2'"),
        running_mock("reviews", tmp_path, {"MOCK_ERROR_RATE": "2"}),
    ):
        pytest.fail("the mock should not have started")


def test_a_batch_call_is_one_request_for_all_its_ids(mock_service_factory: MockServiceFactory) -> None:
    # Given a product mock at its reference latency
    product = mock_service_factory("product")
    ids = [f"P{number:03d}" for number in range(1, 25)]

    # When 24 ids (and one unknown) are asked for in one call
    started = time.perf_counter()
    response = httpx.get(f"{product.base_url}/products", params={"ids": ",".join([*ids, "P999"])}, timeout=3)
    elapsed = time.perf_counter() - started

    # Then the known ones come back after one latency, and the mock counted one batch call of 25 ids
    assert response.status_code == 200
    assert list(response.json()) == ids
    assert elapsed < 0.5
    stats = httpx.get(f"{product.base_url}/__mock/stats", timeout=3).json()
    assert (stats["routes"], stats["batchSizes"]) == ({"GET /products": 1}, [25])


def test_a_cart_post_replayed_with_its_key_adds_the_item_once(mock_service_factory: MockServiceFactory) -> None:
    # Given the cart mock
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    headers = {"Idempotency-Key": "retry-me", "X-User-Sub": "alice"}
    item = {"productId": "P001", "quantity": 2}

    # When the same add is sent twice with one key, over two connections
    first = httpx.post(f"{cart.base_url}/carts/alice/items", json=item, headers=headers, timeout=3)
    second = httpx.post(f"{cart.base_url}/carts/alice/items", json=item, headers=headers, timeout=3)
    read = httpx.get(f"{cart.base_url}/carts/alice", timeout=3)

    # Then the second is the first's answer replayed, and the cart holds the item once
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert read.json() == {"userId": "alice", "items": [{"productId": "P001", "quantity": 2}]}
    stats = httpx.get(f"{cart.base_url}/__mock/stats", timeout=3).json()
    assert stats["routes"] == {"POST /carts/{userId}/items": 2, "GET /carts/{userId}": 1}
    assert [entry["xUserSub"] for entry in stats["identity"]] == ["alice", "alice"]
    assert [entry["authorization"] for entry in stats["identity"]] == [None, None]
