from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from mangum import Mangum
from mangum.types import LambdaContext

import cart_service
import inventory_service
import product_service
import reviews_service
from tests.unit.mocks.asgi_support import mock_app

EVENTS_DIR = Path(__file__).resolve().parents[3] / "events"

pytestmark = pytest.mark.usefixtures("fresh_event_loop")


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"mock-{name}-P001.json").read_text())
    return event


def body_of(response: dict[str, Any]) -> Any:
    """API Gateway decodes base64 bodies; Mangum base64-encodes types it does not know as text."""
    body: str = response["body"]
    return json.loads(base64.b64decode(body) if response["isBase64Encoded"] else body)


def with_id(event: dict[str, Any], product_id: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    path = changed["rawPath"].rsplit("/", 1)[0] + f"/{product_id}"
    changed["rawPath"] = changed["requestContext"]["http"]["path"] = path
    changed["pathParameters"] = {"id": product_id}
    return changed


@pytest.mark.parametrize(
    ("name", "handler", "expected"),
    [
        ("product", product_service.lambda_handler, product_service.describe_product("P001")),
        ("reviews", reviews_service.lambda_handler, reviews_service.reviews_of("P001")),
        ("inventory", inventory_service.lambda_handler, inventory_service.stock_of("P001")),
    ],
)
def test_each_handler_answers_its_api_gateway_event(
    name: str, handler: Mangum, expected: object, lambda_context: LambdaContext
) -> None:
    # Given the shared API Gateway HTTP API event for P001
    event = load_event(name)

    # When the Lambda handler is invoked with it
    response = handler(event, lambda_context)

    # Then it answers the service's document and echoes the correlation id
    assert response["statusCode"] == 200
    assert body_of(response) == expected
    assert response["headers"]["x-correlation-id"] == event["headers"]["x-correlation-id"]


def test_an_unknown_id_is_a_404_problem_in_lambda_too(lambda_context: LambdaContext) -> None:
    response = product_service.lambda_handler(with_id(load_event("product"), "P999"), lambda_context)

    assert response["statusCode"] == 404
    assert response["headers"]["content-type"] == "application/problem+json"
    assert body_of(response)["status"] == 404


def test_reset_behind_api_gateway_is_a_500(lambda_context: LambdaContext) -> None:
    # Given a resetting mock behind API Gateway, which buffers whole responses
    handler = Mangum(mock_app(product_service.SPEC, MOCK_FAULT="reset"), lifespan="off")

    # When it is invoked
    response = handler(load_event("product"), lambda_context)

    # Then the caller sees a plain server error rather than a broken connection
    assert response["statusCode"] == 500
    assert body_of(response)["status"] == 500


def test_the_lambda_log_line_carries_the_event_trace_headers(
    capsys: pytest.CaptureFixture[str], lambda_context: LambdaContext
) -> None:
    event = load_event("inventory")

    inventory_service.lambda_handler(event, lambda_context)

    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["service"] == "inventory"
    assert line["correlation_id"] == event["headers"]["x-correlation-id"]
    assert line["traceparent"] == event["headers"]["traceparent"]


def batch_event(service: str, collection: str, query: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event(service))
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/{collection}"
    event["routeKey"] = event["requestContext"]["routeKey"] = f"GET /{collection}"
    event["rawQueryString"] = query
    event["queryStringParameters"] = {"ids": query.removeprefix("ids=")}
    del event["pathParameters"]
    return event


def test_a_batch_answers_through_api_gateway(lambda_context: LambdaContext) -> None:
    response = reviews_service.lambda_handler(batch_event("reviews", "reviews", "ids=P001,P999"), lambda_context)

    assert response["statusCode"] == 200
    assert body_of(response) == {"P001": reviews_service.reviews_of("P001")}


def cart_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"mock-cart-{name}.json").read_text())
    return event


def test_the_cart_events_add_then_read_and_a_replay_changes_nothing(lambda_context: LambdaContext) -> None:
    # Given a fresh cart mock behind API Gateway
    handler = Mangum(mock_app(cart_service.SPEC), lifespan="off")

    # When the add event comes twice (same Idempotency-Key), then the read event
    added = handler(cart_event("add"), lambda_context)
    replayed = handler(cart_event("add"), lambda_context)
    read = handler(cart_event("get"), lambda_context)

    # Then the item was added once, and the second add replayed the first answer
    expected = {"userId": "alice", "items": [{"productId": "P001", "quantity": 2}]}
    assert (added["statusCode"], body_of(added)) == (201, expected)
    assert (replayed["statusCode"], body_of(replayed)) == (201, expected)
    assert replayed["headers"]["idempotent-replayed"] == "true"
    assert (read["statusCode"], body_of(read)) == (200, expected)


def test_the_cart_module_handler_reads_the_get_event(lambda_context: LambdaContext) -> None:
    response = cart_service.lambda_handler(cart_event("get"), lambda_context)

    assert response["statusCode"] == 200
    assert body_of(response)["userId"] == "alice"


def cart_event_for(user_segment: str, *, decoded_path: str | None = None) -> dict[str, Any]:
    """The get event for the raw path segment `user_segment`; `decoded_path` is a `requestContext.http.path` other
    than the raw path, as a gateway that decodes it (SAM's emulation did) would send."""
    event = cart_event("get")
    event["rawPath"] = f"/carts/{user_segment}"
    event["requestContext"]["http"]["path"] = decoded_path or event["rawPath"]
    return event


@pytest.mark.parametrize(
    ("user_segment", "decoded_path", "user_id"),
    [
        # "%2562ob" is the user "%62ob", not bob, even when the gateway's path was already decoded to "/carts/%62ob"
        ("%2562ob", "/carts/%62ob", "%62ob"),
        ("%2562ob", None, "%62ob"),
        # An encoded slash stays inside the user id instead of making new segments
        ("eve%2F..%2Fbob", "/carts/eve/../bob", "eve/../bob"),
    ],
)
def test_the_cart_mock_decodes_the_users_raw_path_segment_once(
    lambda_context: LambdaContext, user_segment: str, decoded_path: str | None, user_id: str
) -> None:
    # Given a cart mock where bob has an item
    handler = Mangum(mock_app(cart_service.SPEC), lifespan="off")
    bobs_add = cart_event("add")
    bobs_add["rawPath"] = bobs_add["requestContext"]["http"]["path"] = "/carts/bob/items"
    assert handler(bobs_add, lambda_context)["statusCode"] == 201

    # When a cart is read with bob's name encoded in its raw path
    response = handler(cart_event_for(user_segment, decoded_path=decoded_path), lambda_context)

    # Then the mock judges the raw segment decoded exactly once (an id it refuses), never bob's cart
    assert response["statusCode"] == 400
    assert repr(user_id) in body_of(response)["detail"]


def test_a_plain_user_segment_still_reads_that_users_cart(lambda_context: LambdaContext) -> None:
    handler = Mangum(mock_app(cart_service.SPEC), lifespan="off")

    response = handler(cart_event_for("b%6Fb"), lambda_context)

    assert (response["statusCode"], body_of(response)) == (200, {"userId": "bob", "items": []})
