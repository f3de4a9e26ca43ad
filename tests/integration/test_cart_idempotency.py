"""Cart writes end to end: the BFF in process, the real cart and product mocks, Powertools on a real moto server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bff.composition import build_app, build_idempotent_writes
from bff.core.deadline import Deadline
from bff.downstream.http import create_http_client
from bff.resilience.backoff import Backoff
from bff.resilience.guard import RetryPolicy
from bff.writes.idempotency import WriteAnswer
from tests.support.gateway import GatewayClaims, claims_header
from tests.support.lambda_context import FakeLambdaContext
from tests.support.mock_processes import MockProcess, MockServiceFactory
from tests.support.moto_server import MotoServer
from tests.support.settings import settings_for

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ITEM = {"productId": "P001", "quantity": 1}


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    for name, value in moto_server.environment().items():
        monkeypatch.setenv(name, value)
    return moto_server


@asynccontextmanager
async def bff(aws: MotoServer, product: str, cart: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    config = settings_for(
        {"product": product, "cart": cart},
        idempotency_table_name=aws.table_name("IdempotencyTable"),
        page_deadline_ms=3_000,
        cart_timeout_ms=2_000,
        **settings,
    )
    async with create_http_client(config) as downstream:
        app = GatewayClaims(build_app(config, downstream))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
            yield client


def stats(mock: MockProcess) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{mock.base_url}/__mock/stats").json()
    return body


def posts_seen(mock: MockProcess) -> int:
    routes = stats(mock)["routes"]
    assert isinstance(routes, dict)
    return sum(count for route, count in routes.items() if "items" in route)


async def add(
    client: httpx.AsyncClient, key: str, user: str = "alice", item: dict[str, object] = ITEM
) -> httpx.Response:
    return await client.post("/cart/items", json=item, headers={**claims_header(user), "idempotency-key": key})


@pytest.fixture
def product(reference_mocks: dict[str, MockProcess]) -> str:
    return reference_mocks["product"].base_url


async def test_replay_answers_the_first_response_without_a_second_write(
    aws: MotoServer, product: str, mock_service_factory: MockServiceFactory
) -> None:
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    key = f"replay-{uuid.uuid4()}"
    async with bff(aws, product, cart.base_url) as client:
        first = await add(client, key)
        again = await add(client, key)
        view = await client.get("/cart", headers=claims_header("alice"))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert posts_seen(cart) == 1
    assert [(line["productId"], line["quantity"]) for line in view.json()["items"]] == [("P001", 1)]
    assert first.json()["items"][0]["product"]["priceFormatted"] == "$99.99"
    # The user's token never reached the cart service; the shopper did, from the claims
    identity = stats(cart)["identity"]
    assert isinstance(identity, list)
    assert identity
    assert all(entry["authorization"] is None and entry["xUserSub"] == "alice" for entry in identity)
    assert {entry["path"] for entry in identity} == {"/carts/alice", "/carts/alice/items"}


async def test_the_same_key_with_another_body_is_422(
    aws: MotoServer, product: str, mock_service_factory: MockServiceFactory
) -> None:
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    key = f"mismatch-{uuid.uuid4()}"
    async with bff(aws, product, cart.base_url) as client:
        assert (await add(client, key)).status_code == 201
        response = await add(client, key, item={"productId": "P001", "quantity": 2})
    assert response.status_code == 422
    assert response.json()["type"].endswith(":idempotency-key-reused")
    assert posts_seen(cart) == 1


async def test_keys_are_scoped_to_the_user(
    aws: MotoServer, product: str, mock_service_factory: MockServiceFactory
) -> None:
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    key = f"shared-{uuid.uuid4()}"
    async with bff(aws, product, cart.base_url) as client:
        alice = await add(client, key, user="alice")
        bob = await add(client, key, user="bob")
        bobs_view = await client.get("/cart", headers=claims_header("bob"))
        alices_view = await client.get("/cart", headers=claims_header("alice"))
    assert (alice.status_code, bob.status_code) == (201, 201)
    assert "idempotent-replayed" not in bob.headers
    assert len(bobs_view.json()["items"]) == 1
    assert alices_view.json()["items"][0]["quantity"] == 1


async def test_a_second_request_while_the_first_runs_is_409(
    aws: MotoServer, product: str, mock_service_factory: MockServiceFactory
) -> None:
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="1000")
    key = f"concurrent-{uuid.uuid4()}"
    async with bff(aws, product, cart.base_url) as client:
        await add(client, f"warm-up-{uuid.uuid4()}")  # boto3 loads on the first write
        # When a second request with the key arrives while the first waits for the 1 s cart service
        first = asyncio.create_task(add(client, key))
        await asyncio.sleep(0.4)
        second = await add(client, key)
        first_response = await first
    # Then one of them wrote and the other was told to retry later (whichever took the key first wins)
    answers = sorted([first_response, second], key=lambda response: response.status_code)
    assert [response.status_code for response in answers] == [201, 409]
    assert answers[1].headers["retry-after"] == "1"
    assert answers[1].json()["type"].endswith(":idempotency-key-in-use")
    assert posts_seen(cart) == 2  # the warm-up and one of the two


async def test_a_failed_write_is_not_stored_so_a_retry_runs_again(
    aws: MotoServer, product: str, mock_service_factory: MockServiceFactory
) -> None:
    broken = mock_service_factory("cart", MOCK_FAULT="error", MOCK_LATENCY_MS="0")
    healthy = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    key = f"failed-{uuid.uuid4()}"
    async with bff(aws, product, broken.base_url) as client:
        failed = await add(client, key)
    async with bff(aws, product, healthy.base_url) as client:
        retried = await add(client, key)
    assert failed.status_code == 502
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert posts_seen(healthy) == 1


async def test_an_expired_key_runs_again(
    aws: MotoServer, product: str, mock_service_factory: MockServiceFactory
) -> None:
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    key = f"expiry-{uuid.uuid4()}"
    async with bff(aws, product, cart.base_url, idempotency_expires_after_s=1) as client:
        assert (await add(client, key)).status_code == 201
        await asyncio.sleep(2.2)
        again = await add(client, key)
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    # The BFF ran the write again; the cart service, given the same key, applied it once
    assert posts_seen(cart) == 2


async def test_a_keyed_post_retried_through_503s_adds_exactly_one_item(
    aws: MotoServer, product: str, mock_service_factory: MockServiceFactory
) -> None:
    # Given a cart service that refuses about half of all requests with 503 (seeded, so the run repeats)
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0", MOCK_ERROR_RATE="0.5", MOCK_SEED="7")
    key = f"retried-{uuid.uuid4()}"
    async with bff(aws, product, cart.base_url, retry_max_attempts=10, retry_budget_max_tokens=100) as client:
        # When alice sends the same keyed add three times
        responses = [await add(client, key) for _ in range(3)]
    statuses = [response.status_code for response in responses]
    assert 201 in statuses
    assert posts_seen(cart) > 1  # 503s were retried
    # However many attempts reached it, the cart holds the item once
    async with httpx.AsyncClient() as direct:
        cart_body = await direct.get(f"{cart.base_url}/carts/alice", headers={"x-user-sub": "alice"})
        while cart_body.status_code == 503:
            cart_body = await direct.get(f"{cart.base_url}/carts/alice", headers={"x-user-sub": "alice"})
    assert cart_body.json()["items"] == [{"productId": "P001", "quantity": 1}]


async def test_a_request_whose_lambda_ran_out_does_not_hold_its_key(aws: MotoServer) -> None:
    # Given a first write whose Lambda context had 200 ms left, still running 800 ms later (a timed-out invocation)
    writes = build_idempotent_writes(
        settings_for(idempotency_table_name=aws.table_name("IdempotencyTable"), idempotency_expires_after_s=3_600),
        RetryPolicy(1, Backoff(0.001, 0.002)),
    )
    assert writes is not None
    key = f"timed-out-{uuid.uuid4()}"
    ran: list[str] = []

    def write_as(name: str, delay_s: float) -> Callable[[], Coroutine[Any, Any, dict[str, Any]]]:
        async def write() -> dict[str, Any]:
            await asyncio.sleep(delay_s)
            ran.append(name)
            return {"status": 201, "body": name}

        return write

    await writes.run(
        user="alice",
        key=f"warm-up-{uuid.uuid4()}",
        body={},
        write=write_as("warm-up", 0.0),
        lambda_context=FakeLambdaContext(),
        deadline=Deadline.after_ms(3_000),
    )
    first = asyncio.create_task(
        writes.run(
            user="alice",
            key=key,
            body={},
            write=write_as("first", 2.0),
            lambda_context=FakeLambdaContext(remaining_ms=200),
            deadline=Deadline.after_ms(3_000),
        )
    )
    await asyncio.sleep(0.8)
    # When the client retries with the same key
    second = await writes.run(
        user="alice",
        key=key,
        body={},
        write=write_as("second", 0.0),
        lambda_context=FakeLambdaContext(),
        deadline=Deadline.after_ms(3_000),
    )
    await first
    # Then the retry runs (no 409 until the 1 h expiry): the lock ended with the first invocation's time
    assert second == WriteAnswer(201, "second", replayed=False)
    assert "second" in ran
