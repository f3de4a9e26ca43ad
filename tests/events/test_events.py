"""Every file in events/ goes through the real Lambda handler (Mangum), REST v1 and HTTP API v2 alike."""

from __future__ import annotations

import importlib
import json
from typing import Any

import httpx
import pytest

from tests.conftest import EVENTS_DIR, LambdaHandler, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.mock_processes import MockProcess

pytestmark = pytest.mark.integration

BFF_EVENTS = sorted(path.name for path in EVENTS_DIR.glob("bff-*.json"))
MOCK_EVENTS = sorted(path.name for path in EVENTS_DIR.glob("mock-*.json"))


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    return {key.lower(): value for key, value in response["headers"].items()}


def downstream_requests(mocks: dict[str, MockProcess]) -> int:
    return sum(httpx.get(f"{mock.base_url}/__mock/stats").json()["requests"] for mock in mocks.values())


CART_EVENTS = ["bff-v2-cart-add.json", "bff-v2-cart-get.json"]
PAGE_EVENTS = [name for name in BFF_EVENTS if name not in CART_EVENTS]


def test_every_bff_event_is_covered() -> None:
    assert {name.rsplit("-", 1)[-1] for name in PAGE_EVENTS} == {"P001.json", "unknown.json", "invalid.json"}
    assert {name.split("-")[1] for name in PAGE_EVENTS} == {"v1", "v2"}
    assert sorted(set(BFF_EVENTS) - set(PAGE_EVENTS)) == CART_EVENTS


def test_cart_get_event_answers_the_claims_subjects_cart_privately(
    bff_handler: LambdaHandler, lambda_context: FakeLambdaContext
) -> None:
    # Given the gateway's event with verified claims for alice (cart:read)
    event = load_event("bff-v2-cart-get.json")
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "alice"
    # When the handler serves it
    response = bff_handler(event, lambda_context)
    # Then alice's cart comes back, never cached by anyone but her
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["meta"] == {"degraded": []}
    assert headers_of(response)["cache-control"] == "private, no-store"
    assert "etag" not in headers_of(response)


def test_cart_get_event_without_claims_is_401(bff_handler: LambdaHandler, lambda_context: FakeLambdaContext) -> None:
    event = load_event("bff-v2-cart-get.json")
    del event["requestContext"]["authorizer"]
    response = bff_handler(event, lambda_context)
    assert response["statusCode"] == 401
    assert headers_of(response)["www-authenticate"] == "Bearer"
    assert headers_of(response)["content-type"] == "application/problem+json"


def test_cart_add_event_passes_every_request_check(
    bff_handler: LambdaHandler, lambda_context: FakeLambdaContext
) -> None:
    # Given the add event (cart:write, JSON body, Idempotency-Key) and a handler with no idempotency table
    response = bff_handler(load_event("bff-v2-cart-add.json"), lambda_context)
    # Then it passes authorization and validation and stops only at the missing store: 503, never a retry-unsafe write
    assert response["statusCode"] == 503, response["body"]
    assert json.loads(response["body"])["type"].endswith(":idempotency-unavailable")


@pytest.mark.parametrize("key", ["evt-1,evt-2", "evt-1, evt-1", "evt,"], ids=["two", "the-same-twice", "comma"])
def test_cart_add_event_with_repeated_idempotency_keys_is_400(
    key: str, bff_handler: LambdaHandler, lambda_context: FakeLambdaContext
) -> None:
    # Given the add event as HTTP API builds it when the caller sends Idempotency-Key twice: one header, joined
    event = load_event("bff-v2-cart-add.json")
    event["headers"]["idempotency-key"] = key
    # When the handler serves it
    response = bff_handler(event, lambda_context)
    # Then it is refused as a bad key (400 problem), not stored as one key nor passed on to the store
    assert response["statusCode"] == 400, response["body"]
    assert headers_of(response)["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in json.loads(response["body"])["detail"]


@pytest.mark.parametrize("event_name", [name for name in PAGE_EVENTS if name.endswith("P001.json")])
def test_product_event_returns_the_whole_page(
    event_name: str, bff_handler: LambdaHandler, lambda_context: FakeLambdaContext
) -> None:
    response = bff_handler(load_event(event_name), lambda_context)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["product"]["name"] == "Awesome Gadget P001"
    assert [review["author"] for review in body["reviews"]] == ["Alice", "Bob"]
    assert body["inventory"] == {"productId": "P001", "stock": 14}
    assert body["meta"] == {"degraded": []}
    assert headers_of(response)["content-type"] == "application/json"


@pytest.mark.parametrize("event_name", [name for name in BFF_EVENTS if name.endswith("unknown.json")])
def test_unknown_product_event_returns_404_problem(
    event_name: str, bff_handler: LambdaHandler, lambda_context: FakeLambdaContext
) -> None:
    event = load_event(event_name)
    response = bff_handler(event, lambda_context)
    assert response["statusCode"] == 404
    assert headers_of(response)["content-type"] == "application/problem+json"
    problem = json.loads(response["body"])
    assert problem["status"] == 404
    assert problem["correlationId"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize("event_name", [name for name in BFF_EVENTS if name.endswith("invalid.json")])
def test_invalid_id_event_returns_400_without_downstream_calls(
    event_name: str,
    bff_handler: LambdaHandler,
    lambda_context: FakeLambdaContext,
    reference_mocks: dict[str, MockProcess],
) -> None:
    before = downstream_requests(reference_mocks)
    response = bff_handler(load_event(event_name), lambda_context)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["status"] == 400
    assert downstream_requests(reference_mocks) == before


@pytest.mark.parametrize("event_name", MOCK_EVENTS)
def test_mock_event_goes_through_the_mock_handler(event_name: str, lambda_context: FakeLambdaContext) -> None:
    service = event_name.split("-")[1]
    module = importlib.import_module(f"{service}_service")
    event = load_event(event_name)
    response = module.lambda_handler(event, lambda_context)
    assert response["statusCode"] == (201 if event["requestContext"]["http"]["method"] == "POST" else 200)
    body = json.loads(response["body"])
    if service == "cart":
        assert body["userId"] == event["pathParameters"]["userId"]
        return
    payload = body[0] if isinstance(body, list) else body
    assert "P001" in (payload.get("id"), payload.get("productId"))


def test_events_directory_holds_only_known_events() -> None:
    assert {path.name for path in EVENTS_DIR.glob("*.json")} == set(BFF_EVENTS) | set(MOCK_EVENTS)
