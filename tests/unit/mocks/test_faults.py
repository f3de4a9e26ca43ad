from __future__ import annotations

import asyncio
import json
import time

import pytest

import product_service
import reviews_service
from mockkit import MockConfig, MockService, ServiceSpec
from mockkit.delivery import SimulatedConnectionReset
from mockkit.faults import Huge, SlowBody
from tests.unit.mocks.asgi_support import AsgiExchange, client_for, mock_app

pytestmark = pytest.mark.anyio

HEALTHY_P001 = product_service.describe_product("P001")


async def test_error_answers_500_problem() -> None:
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="error")) as client:
        response = await client.get("/products/P001")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 500


async def test_faults_that_replace_the_answer_ignore_the_catalogue() -> None:
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="error")) as client:
        response = await client.get("/products/P999")

    assert response.status_code == 500


async def test_hang_never_starts_a_response() -> None:
    # Given a hanging mock
    exchange = AsgiExchange("/products/P001")

    # When the caller waits a while
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await exchange.run(mock_app(product_service.SPEC, MOCK_FAULT="hang"))

    # Then nothing was sent, not even headers
    assert exchange.sent == []


async def test_hang_stops_when_the_client_disconnects() -> None:
    # Given a hanging mock
    exchange = AsgiExchange("/products/P001")
    running = asyncio.create_task(exchange.run(mock_app(product_service.SPEC, MOCK_FAULT="hang")))
    await asyncio.sleep(0.05)

    # When the client goes away
    exchange.leave()

    # Then the mock stops promptly without answering
    await asyncio.wait_for(running, timeout=1)
    assert exchange.sent == []


async def test_malformed_answers_200_with_a_truncated_json_body() -> None:
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="malformed")) as client:
        response = await client.get("/products/P001")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    healthy_body = json.dumps(HEALTHY_P001, separators=(",", ":")).encode()
    assert healthy_body.startswith(response.content)
    assert response.content
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


@pytest.mark.parametrize("spec", [product_service.SPEC, reviews_service.SPEC], ids=["object", "list"])
async def test_wrong_shape_answers_valid_json_the_caller_cannot_use(spec: ServiceSpec) -> None:
    async with client_for(mock_app(spec, MOCK_FAULT="wrong-shape")) as client:
        response = await client.get(f"/{spec.collection}/P001")

    assert response.status_code == 200
    assert response.json() == {"unexpected": True}


async def test_flaky_fails_the_first_n_calls_then_recovers() -> None:
    # Given a mock that is flaky for two calls
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="flaky:2")) as client:
        # When it is called four times
        statuses = [(await client.get("/products/P001")).status_code for _ in range(4)]

    # Then the first two calls fail as unavailable and the rest succeed
    assert statuses == [503, 503, 200, 200]


@pytest.mark.parametrize(("environ", "retry_after"), [({}, "1"), ({"MOCK_RETRY_AFTER_S": "7"}, "7")])
async def test_429_says_when_to_retry(environ: dict[str, str], retry_after: str) -> None:
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="429", **environ)) as client:
        response = await client.get("/products/P001")

    assert response.status_code == 429
    assert response.headers["retry-after"] == retry_after
    assert response.headers["content-type"] == "application/problem+json"


async def test_slow_body_sends_headers_at_once_then_trickles_the_body() -> None:
    # Given a slow body in 5 chunks, 40 ms apart
    app = MockService(product_service.SPEC, MockConfig(latency_ms=0, fault=SlowBody(chunks=5, interval_s=0.04)))
    exchange = AsgiExchange("/products/P001")

    # When the request runs
    started = time.perf_counter()
    running = asyncio.create_task(exchange.run(app))
    await asyncio.sleep(0.02)
    headers_early = exchange.status
    await running
    elapsed = time.perf_counter() - started

    # Then headers went out before any body, the body came in 5 pieces over ~200 ms, and it is the product
    assert headers_early == 200
    assert len(exchange.body_chunks) == 5
    assert elapsed >= 0.2
    assert json.loads(b"".join(exchange.body_chunks)) == HEALTHY_P001


async def test_slow_body_delivers_the_normal_answer_including_404() -> None:
    app = MockService(product_service.SPEC, MockConfig(latency_ms=0, fault=SlowBody(chunks=2, interval_s=0)))
    async with client_for(app) as client:
        response = await client.get("/products/P999")

    assert response.status_code == 404


async def test_huge_streams_two_mebibytes_of_the_right_top_level_shape() -> None:
    # Given the product and reviews mocks serving huge bodies
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="huge")) as client:
        product = await client.get("/products/P001")
    async with client_for(mock_app(reviews_service.SPEC, MOCK_FAULT="huge")) as client:
        reviews = await client.get("/reviews/P001")

    # Then both are valid 200 JSON of at least 2 MiB, still an object and a list of reviews
    for response in (product, reviews):
        assert response.status_code == 200
        assert len(response.content) >= 2 * 1024 * 1024
        assert int(response.headers["content-length"]) == len(response.content)
    assert product.json()["id"] == "P001"
    assert all(review["productId"] == "P001" for review in reviews.json())


async def test_huge_is_sent_in_chunks() -> None:
    app = MockService(product_service.SPEC, MockConfig(latency_ms=0, fault=Huge(size_bytes=1000, chunk_bytes=256)))
    exchange = AsgiExchange("/products/P001")

    await exchange.run(app)

    assert len(exchange.body_chunks) > 4
    assert all(len(chunk) <= 256 for chunk in exchange.body_chunks)
    assert exchange.complete


async def test_reset_breaks_off_midway_through_the_body() -> None:
    # Given a mock that resets connections
    exchange = AsgiExchange("/products/P001")

    # When the request runs, Then the app aborts (a server closes the socket on that)
    with pytest.raises(SimulatedConnectionReset):
        await exchange.run(mock_app(product_service.SPEC, MOCK_FAULT="reset"))

    # And the client had got a 200 promising the full body, but only part of it
    promised = int(exchange.headers["content-length"])
    received = b"".join(exchange.body_chunks)
    assert exchange.status == 200
    assert 0 < len(received) < promised
    assert not exchange.complete


async def test_reset_reaches_an_httpx_client_as_an_error() -> None:
    async with client_for(mock_app(product_service.SPEC, MOCK_FAULT="reset")) as client:
        with pytest.raises(SimulatedConnectionReset):
            await client.get("/products/P001")
