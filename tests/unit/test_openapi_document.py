"""The OpenAPI document as the app builds and serves it: a valid OpenAPI 3.1 document whose every limit agrees with
the code that enforces it, and GET /openapi.json public, cacheable and revalidated with its ETag."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from jsonschema_rs import Draft202012Validator
from openapi_spec_validator import validate

from bff.api.cart import idempotency_key, new_item
from bff.api.validation import parse_page_query, validate_product_id
from bff.composition import build_app
from bff.downstream.http import create_http_client
from bff.errors import ProblemError
from bff.observability.correlation import correlation_id_for
from tests.support.settings import settings_for

type JsonObject = dict[str, Any]

SECTIONS = ("product", "reviews", "inventory")
ISSUER = "https://issuer.example/pool-1"


@pytest.fixture(scope="module")
def document() -> JsonObject:
    settings = settings_for(JWT_ISSUER=ISSUER)
    return build_app(settings, create_http_client(settings)).openapi()


def operation(document: JsonObject, method: str, path: str) -> JsonObject:
    found: JsonObject = document["paths"][path][method]
    return found


def parameter(document: JsonObject, method: str, path: str, name: str) -> JsonObject:
    parameters: list[JsonObject] = operation(document, method, path)["parameters"]
    (found,) = [p for p in parameters if p["name"] == name]
    return found


def refused(check: Any, *arguments: Any) -> bool:
    try:
        check(*arguments)
    except ProblemError:
        return True
    return False


def test_the_document_is_valid_openapi_3_1(document: JsonObject) -> None:
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"].startswith("3.1")


def test_every_route_lists_the_statuses_it_really_answers_through_the_gateway(document: JsonObject) -> None:
    statuses = {
        (method, path): set(item["responses"])
        for path, items in document["paths"].items()
        for method, item in items.items()
    }
    assert statuses == {
        ("get", "/openapi.json"): {"200", "304", "429", "500"},
        ("get", "/product-details"): {"200", "304", "400", "429", "500"},
        ("get", "/product-details/{productId}"): {
            "200", "304", "400", "404", "422", "429", "500", "502", "503", "504"
        },
        ("get", "/cart"): {"200", "400", "401", "403", "422", "429", "500", "502", "503", "504"},
        ("post", "/cart/items"): {
            "201", "400", "401", "403", "409", "413", "415", "422", "429", "500", "502", "503", "504"
        },
    }  # fmt: skip


def test_the_gateways_own_answers_are_json_messages(document: JsonObject) -> None:
    cart = operation(document, "get", "/cart")["responses"]
    for status in ("401", "403"):
        assert cart[status]["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}
        }
        assert cart[status]["headers"]["WWW-Authenticate"] == {"$ref": "#/components/headers/WWW-Authenticate"}
    page_404 = operation(document, "get", "/product-details/{productId}")["responses"]["404"]["content"]
    assert set(page_404) == {"application/problem+json", "application/json"}
    assert document["components"]["schemas"]["GatewayMessage"]["required"] == ["message"]


def test_the_cart_routes_need_the_shoppers_jwt_with_their_scope(document: JsonObject) -> None:
    scheme = document["components"]["securitySchemes"]["shopperJwt"]
    assert scheme == {
        "type": "openIdConnect",
        "openIdConnectUrl": f"{ISSUER}/.well-known/openid-configuration",
        "description": scheme["description"],
    }
    assert operation(document, "get", "/cart")["security"] == [{"shopperJwt": ["cart:read"]}]
    assert operation(document, "post", "/cart/items")["security"] == [{"shopperJwt": ["cart:write"]}]
    for path in ("/product-details", "/product-details/{productId}", "/openapi.json"):
        assert "security" not in operation(document, "get", path)
    assert "security" not in document


def test_every_response_header_is_described_once_and_each_answer_names_its_own(document: JsonObject) -> None:
    headers = document["components"]["headers"]
    assert set(headers) == {
        "ETag", "Cache-Control", "Vary", "X-Correlation-Id", "Server-Timing", "Retry-After", "WWW-Authenticate",
        "Idempotent-Replayed",
    }  # fmt: skip
    page = operation(document, "get", "/product-details/{productId}")["responses"]
    assert set(page["200"]["headers"]) == {"ETag", "Cache-Control", "Vary", "Server-Timing", "X-Correlation-Id"}
    assert set(page["304"]["headers"]) == set(page["200"]["headers"])
    batch = operation(document, "get", "/product-details")["responses"]
    assert "ETag" in batch["304"]["headers"]
    add = operation(document, "post", "/cart/items")["responses"]
    assert {"Idempotent-Replayed", "Cache-Control", "X-Correlation-Id"} <= set(add["201"]["headers"])
    assert "Retry-After" in add["409"]["headers"]
    assert "Retry-After" in add["503"]["headers"]
    assert set(add["400"]["headers"]) == {"Cache-Control", "X-Correlation-Id"}
    referenced = re.findall(r"#/components/headers/([A-Za-z-]+)", json.dumps(document))
    assert set(referenced) == set(headers)


def test_the_request_headers_are_documented(document: JsonObject) -> None:
    for path in ("/product-details", "/product-details/{productId}", "/openapi.json"):
        assert parameter(document, "get", path, "If-None-Match")["in"] == "header"
        assert parameter(document, "get", path, "X-Correlation-Id")["required"] is False
    key = parameter(document, "post", "/cart/items", "Idempotency-Key")
    assert key["required"] is True
    assert key["in"] == "header"


@pytest.mark.parametrize(
    "value", ["k", "a" * 255, "a" * 256, "", "key with space", "\u00e9t\u00e9", "!~", "tab\there", "9f1c-ab", "a1,a2"]
)
def test_the_idempotency_key_pattern_agrees_with_the_server(document: JsonObject, value: str) -> None:
    pattern = parameter(document, "post", "/cart/items", "Idempotency-Key")["schema"]["pattern"]
    assert (re.search(pattern, value) is not None) is not refused(idempotency_key, [value])


@pytest.mark.parametrize("value", ["P001", "a", "A" * 64, "A" * 65, "-P", "_P", "P-_9", "P 1", "P/1", "\uff30001", ""])
def test_the_product_id_pattern_agrees_with_the_server(document: JsonObject, value: str) -> None:
    for pattern in (
        parameter(document, "get", "/product-details/{productId}", "productId")["schema"]["pattern"],
        parameter(document, "get", "/product-details", "ids")["schema"]["items"]["pattern"],
        document["components"]["schemas"]["NewCartItem"]["properties"]["productId"]["pattern"],
    ):
        assert (re.search(pattern, value) is not None) is not refused(validate_product_id, value)


@pytest.mark.parametrize("value", ["1", "9", "10", "49", "50", "51", "0", "05", "+5", "5.0", "1e1", " 5", "", "99"])
def test_the_reviews_limit_pattern_agrees_with_the_server(document: JsonObject, value: str) -> None:
    schema = parameter(document, "get", "/product-details/{productId}", "reviewsLimit")["schema"]
    assert schema["type"] == "string"
    documented = re.search(schema["pattern"], value) is not None
    assert documented is not refused(parse_page_query, f"reviewsLimit={value}", SECTIONS)


def test_the_batch_takes_at_most_fifty_ids(document: JsonObject) -> None:
    assert parameter(document, "get", "/product-details", "ids")["schema"]["maxItems"] == 50


BODIES: list[object] = [
    {"productId": "P001", "quantity": 1},
    {"productId": "P001", "quantity": 99},
    {"productId": "P001", "quantity": 100},
    {"productId": "P001", "quantity": 0},
    {"productId": "P001", "quantity": -1},
    {"productId": "P001", "quantity": 2.5},
    {"productId": "P001", "quantity": 59.0},
    {"productId": "P001", "quantity": 99.0},
    {"productId": "P001", "quantity": 99.5},
    {"productId": "P001", "quantity": 1e2},
    {"productId": "P001", "quantity": 1e300},
    {"productId": "P001", "quantity": "2"},
    {"productId": "P001", "quantity": True},
    {"productId": "P001"},
    {"quantity": 1},
    {"productId": "P001", "quantity": 1, "userId": "someone-else"},
    {"productId": "../x", "quantity": 1},
    {"productId": 1, "quantity": 1},
    [],
    "P001",
    None,
]


@pytest.mark.parametrize("body", BODIES)
def test_the_cart_item_schema_agrees_with_the_server(document: JsonObject, body: object) -> None:
    schema = {**document["components"]["schemas"]["NewCartItem"], "$defs": {}}
    assert schema["additionalProperties"] is False
    documented = Draft202012Validator(schema).is_valid(body)
    assert documented is not refused(new_item, body)


def test_an_integral_number_is_the_integer_it_equals_for_the_schema_and_the_server(document: JsonObject) -> None:
    quantity = document["components"]["schemas"]["NewCartItem"]["properties"]["quantity"]
    assert (quantity["type"], quantity["minimum"], quantity["maximum"]) == ("integer", 1, 99)
    # JSON Schema's integer is a number with no fractional part: 59.0 validates, so the server takes it as 59
    assert Draft202012Validator({"type": "integer"}).is_valid(59.0)
    assert new_item({"productId": "P001", "quantity": 59.0}).quantity == 59
    assert new_item(json.loads('{"productId": "P001", "quantity": 5.9e1}')).quantity == 59
    assert type(new_item({"productId": "P001", "quantity": 59.0}).quantity) is int
    body = operation(document, "post", "/cart/items")["requestBody"]
    assert body["required"] is True
    assert "4096 bytes" in body["description"]


@pytest.mark.parametrize("value", ["abc-123", "a" * 128, "a" * 129, "has space", "", "x/y:z=1+2", "\u00e9"])
def test_the_correlation_id_pattern_is_what_the_bff_echoes(document: JsonObject, value: str) -> None:
    pattern = document["components"]["headers"]["X-Correlation-Id"]["schema"]["pattern"]
    echoed = correlation_id_for({"x-correlation-id": value}, None) == value
    assert (re.search(pattern, value) is not None) is echoed


def test_nothing_in_the_document_names_an_internal_address(document: JsonObject) -> None:
    text = json.dumps(document)
    for internal in ("127.0.0.1", "localhost", "execute-api", "amazonaws.com", "SERVICE_URL", "arn:"):
        assert internal not in text


@pytest.mark.anyio
async def test_the_document_is_served_public_and_cacheable_with_an_etag(client: httpx.AsyncClient) -> None:
    # When a client fetches the document
    response = await client.get("/openapi.json", headers={"accept-encoding": "identity"})
    # Then it is the document, public, with a strong ETag of its bytes
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["paths"]["/cart/items"]["post"]["security"] == [{"shopperJwt": ["cart:write"]}]
    assert response.headers["cache-control"] == "public, max-age=300"
    assert re.fullmatch(r'"[A-Za-z0-9_-]{22}"', response.headers["etag"])
    assert "x-correlation-id" in response.headers

    # When it asks again with that ETag
    again = await client.get(
        "/openapi.json", headers={"if-none-match": response.headers["etag"], "accept-encoding": "identity"}
    )
    # Then 304 without a body; and a later full answer is the same bytes
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == response.headers["etag"]
    assert (await client.get("/openapi.json", headers={"accept-encoding": "identity"})).content == response.content


@pytest.mark.anyio
async def test_the_gzip_document_has_its_own_etag(client: httpx.AsyncClient) -> None:
    plain = await client.get("/openapi.json", headers={"accept-encoding": "identity"})
    gzipped = await client.get("/openapi.json", headers={"accept-encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    assert gzipped.json() == plain.json()
