"""The cart routes in process, against the fake downstream: authorization, propagation, validation, abuse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from bff.composition import build_app
from bff.downstream.http import create_http_client
from tests.support.fake_downstream import FakeDownstream
from tests.support.gateway import GatewayClaims, claims_header
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio

ALICE = claims_header("alice")
KEY = {"idempotency-key": "k-0001"}
ITEM = {"productId": "P001", "quantity": 1}


@asynccontextmanager
async def cart_client(fake: FakeDownstream, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    config = settings_for(None, **settings)
    app = GatewayClaims(build_app(config, create_http_client(config, transport=fake.transport())))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        yield client


def cart_of(*items: tuple[str, int], user: str = "alice") -> dict[str, object]:
    return {"userId": user, "items": [{"productId": pid, "quantity": qty} for pid, qty in items]}


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["type"]).rsplit(":", 1)[-1]


async def test_get_cart_enriches_each_item_and_is_private() -> None:
    # Given alice's cart holds two P001 and one P002
    fake = FakeDownstream()
    fake.script("cart", body=cart_of(("P001", 2), ("P002", 1)))
    async with cart_client(fake) as client:
        # When she asks for it, with her token in Authorization
        response = await client.get("/cart", headers={**ALICE, "authorization": "Bearer secret-token"})
    # Then each item carries its product, priced for people, and no shared cache may keep the answer
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "productId": "P001",
                "quantity": 2,
                "product": {"id": "P001", "name": "Awesome Gadget P001", "price": 9999, "priceFormatted": "$99.99"},
            },
            {
                "productId": "P002",
                "quantity": 1,
                "product": {"id": "P002", "name": "Awesome Gadget P002", "price": 9999, "priceFormatted": "$99.99"},
            },
        ],
        "meta": {"degraded": []},
    }
    assert response.headers["cache-control"] == "private, no-store"
    assert "etag" not in response.headers
    # And the cart service was asked for alice's cart, as alice, without her token
    (cart_call,) = fake.calls_to("cart")
    assert cart_call.url.raw_path == b"/carts/alice"
    assert cart_call.headers["x-user-sub"] == "alice"
    assert "authorization" not in cart_call.headers
    # And both products came in one batched call to the product service, with no user header
    (product_call,) = fake.calls_to("product")
    assert product_call.url.path == "/products"
    assert product_call.url.params["ids"] == "P001,P002"
    assert "x-user-sub" not in product_call.headers
    assert all("authorization" not in call.headers for call in fake.requests)
    assert all("x-user-sub" not in call.headers for call in fake.calls_to("product"))


async def test_the_cart_reads_products_through_the_pages_source_and_its_fragments() -> None:
    # Given a product page for P001 already served, so its product is in the fragment cache
    fake = FakeDownstream()
    fake.script("cart", body=cart_of(("P001", 2), ("P002", 1)))
    async with cart_client(fake) as client:
        assert (await client.get("/product-details/P001")).status_code == 200
        (page_call,) = fake.calls_to("product")
        fake.requests.clear()
        # When alice's cart holds P001 and P002
        response = await client.get("/cart", headers=ALICE)
    # Then the page read P001 by id, and the cart asked the product service for the miss alone, in one batch call
    assert page_call.url.path == "/products/P001"
    assert response.status_code == 200
    (product_call,) = fake.calls_to("product")
    assert (product_call.url.path, product_call.url.params["ids"]) == ("/products", "P002")
    assert [line["product"]["id"] for line in response.json()["items"]] == ["P001", "P002"]


async def test_the_subject_travels_as_one_encoded_path_segment() -> None:
    fake = FakeDownstream()
    async with cart_client(fake) as client:
        response = await client.get("/cart", headers=claims_header("eve/../bob?x=1"))
    assert response.status_code == 200
    (cart_call,) = fake.calls_to("cart")
    assert cart_call.url.raw_path == b"/carts/eve%2F..%2Fbob%3Fx%3D1"
    assert cart_call.headers["x-user-sub"] == "eve/../bob?x=1"


async def test_an_item_whose_product_fails_is_kept_with_product_null() -> None:
    fake = FakeDownstream()
    fake.script("cart", body=cart_of(("P404", 1)))
    fake.script("product", status=404)
    async with cart_client(fake) as client:
        response = await client.get("/cart", headers=ALICE)
    assert response.status_code == 200
    assert response.json()["items"] == [{"productId": "P404", "quantity": 1, "product": None}]
    assert response.json()["meta"]["degraded"] == [{"source": "product", "productId": "P404", "reason": "unavailable"}]


@pytest.mark.parametrize(("script", "status"), [({"status": 500}, 502), ({"delay_s": 1.0}, 504)])
async def test_the_cart_service_is_critical(script: dict[str, object], status: int) -> None:
    fake = FakeDownstream()
    fake.script("cart", **script)
    async with cart_client(fake, page_deadline_ms=200) as client:
        response = await client.get("/cart", headers=ALICE)
    assert response.status_code == status
    assert problem_type(response) in {"upstream-failure", "upstream-timeout"}


@pytest.mark.parametrize("status", [400, 403, 422])
async def test_a_shopper_the_cart_service_refuses_gets_a_4xx_not_a_5xx(status: int) -> None:
    # Given a cart service that refuses this shopper's id as input it does not accept
    fake = FakeDownstream()
    fake.script("cart", status=status, body={"title": "invalid userId"})
    async with cart_client(fake) as client:
        # When the shopper reads the cart
        response = await client.get("/cart", headers=ALICE)
    # Then the answer blames the request (no 5xx alarm or canary rollback counts it), and says nothing of the body
    assert response.status_code == 422
    assert problem_type(response) == "cart-refused"
    assert "invalid userId" not in response.text


async def test_a_cart_is_never_served_from_memory_after_its_service_fails() -> None:
    # Given alice's cart was read once
    fake = FakeDownstream()
    fake.script("cart", body=cart_of(("P001", 1)))
    async with cart_client(fake) as client:
        assert (await client.get("/cart", headers=ALICE)).status_code == 200
        # When the cart service fails
        fake.script("cart", status=500)
        response = await client.get("/cart", headers=ALICE)
    # Then the BFF says so rather than serve a remembered (possibly outdated, per-user) cart
    assert response.status_code == 502


async def test_no_cache_answers_a_cart() -> None:
    # Given alice read her cart once
    fake = FakeDownstream()
    fake.script("cart", body=cart_of(("P001", 1)))
    async with cart_client(fake) as client:
        await client.get("/cart", headers=ALICE)
        # When it changes and she reads it again
        fake.script("cart", body=cart_of(("P001", 3)))
        response = await client.get("/cart", headers=ALICE)
    # Then the cart service was asked both times and the new cart came back: no cache tier held the first one
    assert len(fake.calls_to("cart")) == 2
    assert response.json()["items"][0]["quantity"] == 3
    assert settings_for().services["cart"].cache_ttl_s == 0


@pytest.mark.parametrize(
    ("claims", "status", "slug"),
    [
        ({}, 401, "unauthenticated"),
        (claims_header(None), 401, "unauthenticated"),
        (claims_header(""), 401, "unauthenticated"),
        (claims_header(".."), 401, "unauthenticated"),
        (claims_header("alice", scope="cart:write"), 403, "insufficient-scope"),
        (claims_header("alice", scope="cart:readx profile"), 403, "insufficient-scope"),
    ],
    ids=["no-claims", "no-sub", "empty-sub", "dot-dot-sub", "write-only", "near-miss"],
)
async def test_get_cart_refuses_without_identity_or_scope(claims: dict[str, str], status: int, slug: str) -> None:
    fake = FakeDownstream()
    async with cart_client(fake) as client:
        response = await client.get("/cart", headers=claims)
    assert response.status_code == status
    assert problem_type(response) == slug
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert fake.requests == []


async def test_scp_claim_as_the_gateway_stringifies_an_array_grants_the_scope() -> None:
    fake = FakeDownstream()
    scp = {"x-test-claims": json.dumps({"sub": "alice", "scp": "[cart:read openid]"})}
    async with cart_client(fake) as client:
        assert (await client.get("/cart", headers=scp)).status_code == 200


async def test_post_without_write_scope_is_403() -> None:
    fake = FakeDownstream()
    async with cart_client(fake, idempotency_table_name="t") as client:
        response = await client.post(
            "/cart/items", json=ITEM, headers={**claims_header("alice", scope="cart:read"), **KEY}
        )
    assert response.status_code == 403
    assert fake.requests == []


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/cart?userId=bob", {}),
        ("/cart?sub=bob", {}),
        ("/cart", {"x-user-sub": "bob"}),
        ("/cart", {"x-user-id": "bob"}),
        ("/cart", {"x-amzn-oidc-identity": "bob"}),
    ],
)
async def test_alice_cannot_read_bobs_cart_by_any_parameter_or_header(path: str, headers: dict[str, str]) -> None:
    fake = FakeDownstream()
    async with cart_client(fake) as client:
        response = await client.get(path, headers={**ALICE, **headers})
    assert response.status_code in {200, 400}
    assert all(call.url.raw_path == b"/carts/alice" for call in fake.calls_to("cart"))
    assert all(call.headers["x-user-sub"] == "alice" for call in fake.calls_to("cart"))


async def test_a_user_path_is_not_a_route() -> None:
    fake = FakeDownstream()
    async with cart_client(fake) as client:
        response = await client.get("/cart/bob", headers=ALICE)
    assert response.status_code in {404, 405}
    assert fake.requests == []


@pytest.mark.parametrize("field", ["userId", "user_id", "sub", "note"])
async def test_a_user_id_or_any_unknown_field_in_the_body_is_refused(field: str) -> None:
    fake = FakeDownstream()
    async with cart_client(fake, idempotency_table_name="t") as client:
        response = await client.post("/cart/items", json={**ITEM, field: "bob"}, headers={**ALICE, **KEY})
    assert response.status_code == 400
    assert problem_type(response) == "invalid-request"
    assert fake.requests == []


def deep_json(depth: int) -> bytes:
    return b'{"productId":"P001","quantity":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"productId":"P001","quantity":1,"pad":"' + b"x" * (1024 * 1024) + b'"}', "application/json", 413),
        (b'{"productId":"P001","quantity":1,"pad":"' + b"x" * 4100 + b'"}', "application/json", 413),
        (json.dumps(ITEM).encode(), "text/plain", 415),
        (json.dumps(ITEM).encode(), "application/x-www-form-urlencoded", 415),
        (b"productId=P001&quantity=1", "", 415),
        (deep_json(1500), "application/json", 400),
        (deep_json(50), "application/json", 400),
        (b'{"productId":"P001","quantity":-1}', "application/json", 400),
        (b'{"productId":"P001","quantity":0}', "application/json", 400),
        (b'{"productId":"P001","quantity":100}', "application/json", 400),
        (b'{"productId":"P001","quantity":1.5}', "application/json", 400),
        (b'{"productId":"P001","quantity":true}', "application/json", 400),
        (b'{"productId":"P001","quantity":"1"}', "application/json", 400),
        (b'{"productId":"P001","quantity":NaN}', "application/json", 400),
        (b'{"productId":"P001","quantity":1,"quantity":99}', "application/json", 400),
        (b'{"productId":"../P001","quantity":1}', "application/json", 400),
        (b'{"productId":"P001"}', "application/json", 400),
        (b'[{"productId":"P001","quantity":1}]', "application/json", 400),
        (b'{"productId":"P001","quantity":1', "application/json", 400),
        (b'\xff\xfe{"productId":"P001"}', "application/json", 400),
    ],
    ids=[
        "1MiB",
        "just-over-4KiB",
        "text-plain",
        "form",
        "no-content-type",
        "deep-json",
        "nested-quantity",
        "negative-quantity",
        "zero-quantity",
        "quantity-100",
        "float-quantity",
        "bool-quantity",
        "string-quantity",
        "nan",
        "duplicate-key",
        "bad-product-id",
        "missing-field",
        "array",
        "truncated",
        "not-utf8",
    ],
)
async def test_abusive_bodies_are_refused_before_any_downstream_call(
    content: bytes, content_type: str, status: int
) -> None:
    fake = FakeDownstream()
    headers = {**ALICE, **KEY, **({"content-type": content_type} if content_type else {})}
    async with cart_client(fake, idempotency_table_name="t") as client:
        response = await client.post("/cart/items", content=content, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert fake.requests == []


@pytest.mark.parametrize(
    "key",
    [None, "", "has space", "x" * 256, "caf\u00e9".encode(), "tab\there", "a1,a2", "a1,"],
    ids=["missing", "empty", "space", "256", "latin1", "tab", "joined", "comma"],
)
async def test_a_missing_or_malformed_idempotency_key_is_400(key: str | bytes | None) -> None:
    fake = FakeDownstream()
    raw_key = key.encode() if isinstance(key, str) else key
    headers = [(b"x-test-claims", ALICE["x-test-claims"].encode())]
    if raw_key is not None:
        headers.append((b"idempotency-key", raw_key))
    async with cart_client(fake, idempotency_table_name="t") as client:
        response = await client.post("/cart/items", json=ITEM, headers=headers)
    assert response.status_code == 400
    assert fake.requests == []


async def test_a_product_that_does_not_exist_is_422_and_nothing_is_written() -> None:
    fake = FakeDownstream()
    fake.script("product", status=404)
    async with cart_client(fake, idempotency_table_name="t") as client:
        response = await client.post("/cart/items", json=ITEM, headers={**ALICE, **KEY})
    assert response.status_code == 422
    assert problem_type(response) == "unknown-product"
    assert fake.calls_to("cart") == []


async def test_without_an_idempotency_table_writes_are_refused_with_503() -> None:
    fake = FakeDownstream()
    async with cart_client(fake) as client:
        response = await client.post("/cart/items", json=ITEM, headers={**ALICE, **KEY})
    assert response.status_code == 503
    assert problem_type(response) == "idempotency-unavailable"
    assert response.headers["retry-after"] == "1"
    assert fake.calls_to("cart") == []


def test_the_openapi_document_describes_the_cart_routes_and_their_problems() -> None:
    schema = build_app(settings_for(), create_http_client(settings_for())).openapi()
    add = schema["paths"]["/cart/items"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "503"} <= set(add["responses"])
    assert "application/problem+json" in add["responses"]["422"]["content"]
    assert "200" in schema["paths"]["/cart"]["get"]["responses"]
