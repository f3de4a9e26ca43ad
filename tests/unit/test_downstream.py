"""The outbound edge: how each kind of downstream answer is classified."""

from __future__ import annotations

import httpx
import pytest

from bff.config.pages import product_details_page
from bff.core.outcomes import Failed, FailureReason, Fetched
from bff.downstream.client import DownstreamClient
from bff.downstream.http import create_http_client
from tests.support.context import NO_CONTEXT, request_context
from tests.support.fake_downstream import SERVICE_HOSTS, FakeDownstream
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio
SETTINGS = settings_for(max_response_bytes=4096)
PAGE = product_details_page(SETTINGS)
PRODUCT, REVIEWS, INVENTORY = PAGE.sections


def client_for(fake: FakeDownstream) -> DownstreamClient:
    http = create_http_client(SETTINGS, transport=fake.transport())
    return DownstreamClient(http, SERVICE_HOSTS, max_response_bytes=SETTINGS.max_response_bytes)


async def test_good_answer_is_reduced_to_the_public_model() -> None:
    fake = FakeDownstream()
    fake.script("product", body={"id": "P1", "name": "n", "description": "d", "price": 5, "costPrice": 3})
    outcome = await client_for(fake).fetch_once(PRODUCT, "P1", 1.0, NO_CONTEXT)
    assert isinstance(outcome, Fetched)
    assert outcome.value == {"id": "P1", "name": "n", "description": "d", "price": 5, "currency": None}


async def test_reviews_keep_their_camel_case_contract() -> None:
    fake = FakeDownstream()
    outcome = await client_for(fake).fetch_once(REVIEWS, "P1", 1.0, NO_CONTEXT)
    assert isinstance(outcome, Fetched)
    assert outcome.value == [
        {"productId": "P1", "rating": 5, "comment": "Love it!", "author": "Alice"},
        {"productId": "P1", "rating": 4, "comment": "Pretty good.", "author": "Bob"},
    ]


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ({"status": 404, "body": {"title": "nope"}}, FailureReason.NOT_FOUND),
        ({"status": 500}, FailureReason.UNAVAILABLE),
        ({"status": 503}, FailureReason.UNAVAILABLE),
        ({"status": 302, "body": {}}, FailureReason.UNAVAILABLE),
        ({"status": 400}, FailureReason.REFUSED),
        ({"status": 403}, FailureReason.REFUSED),
        ({"status": 422}, FailureReason.REFUSED),
        ({"status": 408}, FailureReason.UNAVAILABLE),
        ({"status": 429}, FailureReason.UNAVAILABLE),
        ({"raw_body": b"{not json"}, FailureReason.BAD_RESPONSE),
        ({"body": {"unexpected": True}}, FailureReason.BAD_RESPONSE),
        ({"body": {"productId": "P1", "stock": "ten"}}, FailureReason.BAD_RESPONSE),
        ({"body": {"productId": "P1", "stock": -1}}, FailureReason.BAD_RESPONSE),
        ({"raw_body": b"[" + b"1," * 5000 + b"1]"}, FailureReason.BAD_RESPONSE),
        ({"error": httpx.ConnectError}, FailureReason.UNAVAILABLE),
        ({"error": httpx.RemoteProtocolError}, FailureReason.UNAVAILABLE),
        ({"error": httpx.ReadError}, FailureReason.UNAVAILABLE),
        ({"error": httpx.ReadTimeout}, FailureReason.TIMEOUT),
        ({"delay_s": 2.0}, FailureReason.TIMEOUT),
    ],
)
async def test_failures_are_classified(script: dict[str, object], reason: FailureReason) -> None:
    fake = FakeDownstream()
    fake.script("inventory", **script)
    outcome = await client_for(fake).fetch_once(INVENTORY, "P1", 0.1, NO_CONTEXT)
    assert isinstance(outcome, Failed)
    assert outcome.reason is reason


async def test_id_is_percent_encoded_into_the_downstream_path() -> None:
    fake = FakeDownstream()
    await client_for(fake).fetch_once(PRODUCT, "a/b?c#d", 1.0, NO_CONTEXT)
    (request,) = fake.calls_to("product")
    assert request.url.raw_path == b"/products/a%2Fb%3Fc%23d"


async def test_headers_are_forwarded() -> None:
    fake = FakeDownstream()
    await client_for(fake).fetch_once(PRODUCT, "P1", 1.0, request_context({"x-correlation-id": "abc-123"}))
    (request,) = fake.calls_to("product")
    assert request.headers["x-correlation-id"] == "abc-123"
    assert request.headers["user-agent"].startswith("product-bff/")


@pytest.mark.parametrize("dot_segment", [".", ".."])
async def test_dot_segments_are_refused_before_anything_is_sent(dot_segment: str) -> None:
    fake = FakeDownstream()
    with pytest.raises(ValueError, match="dot-segment"):
        await client_for(fake).fetch_once(PRODUCT, dot_segment, 1.0, NO_CONTEXT)
    assert fake.requests == []
