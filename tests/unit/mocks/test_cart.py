from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import cart_service
from mockkit.cart import CartRouter
from mockkit.delivery import SimulatedConnectionReset
from mockkit.request import MAX_BODY_BYTES
from tests.unit.mocks.asgi_support import AsgiExchange, client_for, mock_app

pytestmark = pytest.mark.anyio


def cart_client(**env: str) -> httpx.AsyncClient:
    return client_for(mock_app(cart_service.SPEC, **env))


async def add(
    client: httpx.AsyncClient, user: str, item: dict[str, Any], key: str | None = None, **headers: str
) -> httpx.Response:
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(f"/carts/{user}/items", json=item, headers=headers)


async def test_an_unknown_user_has_an_empty_cart() -> None:
    async with cart_client() as client:
        response = await client.get("/carts/alice")

    assert response.status_code == 200
    assert response.json() == {"userId": "alice", "items": []}


async def test_adding_an_item_answers_201_with_the_cart() -> None:
    async with cart_client() as client:
        added = await add(client, "alice", {"productId": "P001", "quantity": 2})
        read = await client.get("/carts/alice")

    assert added.status_code == 201
    assert added.json() == {"userId": "alice", "items": [{"productId": "P001", "quantity": 2}]}
    assert read.json() == added.json()


async def test_adding_the_same_product_again_adds_to_its_quantity() -> None:
    async with cart_client() as client:
        await add(client, "alice", {"productId": "P001", "quantity": 2})
        await add(client, "alice", {"productId": "P002", "quantity": 1})
        again = await add(client, "alice", {"productId": "P001", "quantity": 3})

    assert again.json()["items"] == [{"productId": "P001", "quantity": 5}, {"productId": "P002", "quantity": 1}]


async def test_carts_are_per_user() -> None:
    async with cart_client() as client:
        await add(client, "alice", {"productId": "P001", "quantity": 1})
        bob = await client.get("/carts/bob")

    assert bob.json() == {"userId": "bob", "items": []}


async def test_the_same_key_for_the_same_user_replays_the_first_answer_and_changes_nothing() -> None:
    # Given a first add with a key
    async with cart_client() as client:
        first = await add(client, "alice", {"productId": "P001", "quantity": 1}, key="k-1")
        # When the same key comes again, even with another body
        replayed = await add(client, "alice", {"productId": "P001", "quantity": 1}, key="k-1")
        other_body = await add(client, "alice", {"productId": "P009", "quantity": 7}, key="k-1")
        cart = await client.get("/carts/alice")

    # Then both get the first status and body, marked as replayed, and the cart holds one item once
    for response in (replayed, other_body):
        assert (response.status_code, response.content) == (201, first.content)
        assert response.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert cart.json()["items"] == [{"productId": "P001", "quantity": 1}]


async def test_a_new_key_is_a_new_write() -> None:
    async with cart_client() as client:
        await add(client, "alice", {"productId": "P001", "quantity": 1}, key="k-1")
        second = await add(client, "alice", {"productId": "P001", "quantity": 1}, key="k-2")

    assert second.json()["items"] == [{"productId": "P001", "quantity": 2}]


async def test_the_same_key_from_two_users_is_two_keys() -> None:
    async with cart_client() as client:
        alice = await add(client, "alice", {"productId": "P001", "quantity": 1}, key="shared")
        bob = await add(client, "bob", {"productId": "P002", "quantity": 4}, key="shared")

    assert alice.json() == {"userId": "alice", "items": [{"productId": "P001", "quantity": 1}]}
    assert bob.json() == {"userId": "bob", "items": [{"productId": "P002", "quantity": 4}]}
    assert "idempotent-replayed" not in bob.headers


async def test_an_invalid_request_is_not_remembered_under_its_key() -> None:
    async with cart_client() as client:
        refused = await add(client, "alice", {"productId": "P001", "quantity": 0}, key="k-1")
        corrected = await add(client, "alice", {"productId": "P001", "quantity": 1}, key="k-1")

    assert (refused.status_code, corrected.status_code) == (400, 201)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"productId": "P001", "quantity": 0}, "quantity"),
        ({"productId": "P001", "quantity": 100}, "quantity"),
        ({"productId": "P001", "quantity": -1}, "quantity"),
        ({"productId": "P001", "quantity": 1.5}, "quantity"),
        ({"productId": "P001", "quantity": True}, "quantity"),
        ({"productId": "P001", "quantity": "1"}, "quantity"),
        ({"productId": "bad id", "quantity": 1}, "productId"),
        ({"productId": 1, "quantity": 1}, "productId"),
        ({"productId": "P001"}, "Missing fields: quantity"),
        ({"productId": "P001", "quantity": 1, "userId": "bob"}, "Unknown fields: userId"),
        (["P001", 1], "JSON object"),
    ],
)
async def test_an_invalid_item_is_a_400_problem(body: object, detail: str) -> None:
    async with cart_client() as client:
        response = await client.post("/carts/alice/items", json=body)
        cart = await client.get("/carts/alice")

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert cart.json()["items"] == []


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"productId": "P001", "quantity": 1}', "text/plain", 415),
        (b'{"productId": "P001", "quantity": 1}', None, 415),
        (b'{"productId": "P001", "quantity": ', "application/json", 400),
        (b"[" * 100_000, "application/json", 413),
        (b"[" * 2000 + b"]" * 2000, "application/json", 400),
        (
            json.dumps({"productId": "P001", "quantity": 1, "pad": "x" * MAX_BODY_BYTES}).encode(),
            "application/json",
            413,
        ),
    ],
    ids=["text", "no-type", "truncated", "one-hundred-kb", "deep", "over-4-KiB"],
)
async def test_the_body_must_be_json_of_at_most_4_kib(content: bytes, content_type: str | None, status: int) -> None:
    headers = {"content-type": content_type} if content_type else {}
    async with cart_client() as client:
        response = await client.post("/carts/alice/items", content=content, headers=headers)

    assert response.status_code == status
    assert response.json()["status"] == status


async def test_json_with_a_charset_is_json() -> None:
    async with cart_client() as client:
        response = await client.post(
            "/carts/alice/items",
            content=b'{"productId": "P001", "quantity": 1}',
            headers={"content-type": "application/json; charset=utf-8"},
        )

    assert response.status_code == 201


@pytest.mark.parametrize("user", ["bad!user", "-alice", "a" * 65])
async def test_an_invalid_user_id_is_a_400(user: str) -> None:
    async with cart_client() as client:
        read = await client.get(f"/carts/{user}")
        write = await add(client, user, {"productId": "P001", "quantity": 1})

    assert (read.status_code, write.status_code) == (400, 400)
    assert "userId" in read.json()["detail"]


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "tab\tkey"])
async def test_an_invalid_idempotency_key_is_a_400(key: str) -> None:
    async with cart_client() as client:
        response = await add(client, "alice", {"productId": "P001", "quantity": 1}, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("POST", "/carts/alice", "GET"), ("DELETE", "/carts/alice", "GET"), ("GET", "/carts/alice/items", "POST")],
)
async def test_other_methods_are_405(method: str, path: str, allow: str) -> None:
    async with cart_client() as client:
        response = await client.request(method, path)

    assert (response.status_code, response.headers["allow"]) == (405, allow)


@pytest.mark.parametrize("path", ["/carts", "/carts/", "/carts/alice/items/P001", "/products/P001"])
async def test_other_paths_are_404(path: str) -> None:
    async with cart_client() as client:
        response = await client.get(path)

    assert response.status_code == 404


@pytest.mark.parametrize(("fault", "status"), [("error", 500), ("429", 429), ("flaky:1", 503)])
async def test_a_failing_fault_answers_for_the_write_and_changes_nothing(fault: str, status: int) -> None:
    async with cart_client(MOCK_FAULT=fault) as client:
        failed = await add(client, "alice", {"productId": "P001", "quantity": 1}, key="k-1")
        retried = await add(client, "alice", {"productId": "P001", "quantity": 1}, key="k-1")

    assert failed.status_code == status
    # flaky:1 lets the retry through: the key was not used up by the failure, so it writes once
    if fault == "flaky:1":
        assert (retried.status_code, retried.json()["items"]) == (201, [{"productId": "P001", "quantity": 1}])
    else:
        assert retried.status_code == status


async def test_the_error_rate_applies_to_the_cart() -> None:
    async with cart_client(MOCK_ERROR_RATE="1") as client:
        response = await client.get("/carts/alice")

    assert response.status_code == 503


@pytest.mark.parametrize("fault", ["wrong-shape", "malformed", "huge"])
async def test_a_fault_that_breaks_the_body_of_a_write_changes_nothing(fault: str) -> None:
    # Given a cart mock whose answers are broken
    app = mock_app(cart_service.SPEC, MOCK_FAULT=fault)
    async with client_for(app) as client:
        # When an item is added
        response = await add(client, "alice", {"productId": "P001", "quantity": 1})

    # Then the 200 carries no usable cart, and the cart is unchanged
    assert response.status_code == 200
    assert isinstance(app.router, CartRouter)
    assert app.router.store.cart("alice") == {"userId": "alice", "items": []}


async def test_reset_delivers_part_of_the_answer_after_the_write() -> None:
    # Given a cart mock that cuts its answers off midway
    app = mock_app(cart_service.SPEC, MOCK_FAULT="reset")
    exchange = AsgiExchange("/carts/alice/items", {"content-type": "application/json", "Idempotency-Key": "k"})
    exchange.scope["method"] = "POST"
    exchange.body = b'{"productId": "P001", "quantity": 1}'

    # When an item is added
    with pytest.raises(SimulatedConnectionReset):
        await exchange.run(app)

    # Then the write happened although the caller saw a broken answer: a retry with the key is a replay
    assert exchange.status == 201
    assert not exchange.complete
    assert isinstance(app.router, CartRouter)
    assert app.router.store.cart("alice")["items"] == [{"productId": "P001", "quantity": 1}]


async def test_stats_record_the_user_header_and_any_authorization_received() -> None:
    # Given calls with the identity header, with an Authorization header, and with neither
    async with cart_client() as client:
        await add(client, "alice", {"productId": "P001", "quantity": 1}, **{"X-User-Sub": "alice"})
        await client.get("/carts/alice", headers={"X-User-Sub": "alice", "Authorization": "Bearer eyJ.token"})
        await client.get("/carts/bob")
        stats = (await client.get("/__mock/stats")).json()

    # Then the calls with either header are listed, in order, with both values
    assert stats["identity"] == [
        {
            "route": "POST /carts/{userId}/items",
            "path": "/carts/alice/items",
            "xUserSub": "alice",
            "authorization": None,
        },
        {
            "route": "GET /carts/{userId}",
            "path": "/carts/alice",
            "xUserSub": "alice",
            "authorization": "Bearer eyJ.token",
        },
    ]
    assert stats["routes"] == {"POST /carts/{userId}/items": 1, "GET /carts/{userId}": 2}
