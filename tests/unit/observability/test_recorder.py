"""One recorder per request, handed to every layer that records: what a request's layers record lands in that
request's record alone, and nothing is kept in module state between requests."""

from __future__ import annotations

import asyncio
import contextvars
import sys

import httpx
import pytest

from bff.composition import build_app
from bff.core.recording import Recorder
from bff.downstream.http import HttpxTransport, create_http_client
from bff.observability.metrics import InvocationRecord
from tests.support.fake_downstream import FakeDownstream
from tests.support.recording import recorded_client
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio
PAGE_ROUTE = "/product-details/{productId}"


class Rendezvous:
    """Fake services that hold every call until `expected` calls are in flight at once, so that requests served
    together are interleaved on the loop: none can finish before the others have sent their calls."""

    def __init__(self, fake: FakeDownstream, expected: int) -> None:
        self.fake = fake
        self.expected = expected
        self.arrived = 0
        self.everyone_in = asyncio.Event()

    def transport(self) -> HttpxTransport:
        return HttpxTransport(httpx.MockTransport(self.handle))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.arrived += 1
        if self.arrived >= self.expected:
            self.everyone_in.set()
        await self.everyone_in.wait()
        return await self.fake._handle(request)


def services_called(record: InvocationRecord) -> list[str]:
    return sorted(call.service for call in record.calls)


async def test_calls_made_during_a_request_land_in_its_record_and_not_in_a_concurrent_requests() -> None:
    # Given one app (one client, one fragment cache) and services that answer only once four calls are waiting
    fake = FakeDownstream()
    rendezvous = Rendezvous(fake, expected=4)
    settings = settings_for(None, retry_max_attempts=1, page_deadline_ms=2_000)
    app = build_app(settings, create_http_client(settings, transport=rendezvous.transport()))
    product_only, whole_page = InvocationRecord(), InvocationRecord()
    # When two requests are served together on one loop: one asks for the product alone, one for the whole page
    async with recorded_client(app, product_only) as first, recorded_client(app, whole_page) as second:
        answers = await asyncio.gather(
            first.get("/product-details/P001?include=product"), second.get("/product-details/P002")
        )
    # Then both were answered, their four calls in flight at once
    assert [answer.status_code for answer in answers] == [200, 200]
    assert rendezvous.arrived == 4
    # And each record holds its own request's calls and cache lookups, and nothing of the other's
    assert services_called(product_only) == ["product"]
    assert services_called(whole_page) == ["inventory", "product", "reviews"]
    assert product_only.tiers == {"product": "none"}
    assert whole_page.tiers == dict.fromkeys(("product", "reviews", "inventory"), "none")
    assert (product_only.route, whole_page.route) == (PAGE_ROUTE, PAGE_ROUTE)


async def test_a_degraded_request_marks_its_own_record_only() -> None:
    # Given reviews that fail, and two requests served together: one without reviews, one with
    fake = FakeDownstream()
    fake.script("reviews", status=503)
    rendezvous = Rendezvous(fake, expected=4)
    settings = settings_for(None, retry_max_attempts=1, page_deadline_ms=2_000)
    app = build_app(settings, create_http_client(settings, transport=rendezvous.transport()))
    without_reviews, with_reviews = InvocationRecord(), InvocationRecord()
    async with recorded_client(app, without_reviews) as first, recorded_client(app, with_reviews) as second:
        await asyncio.gather(first.get("/product-details/P001?include=product"), second.get("/product-details/P002"))
    # Then only the request that asked for reviews is degraded, and only its record counts the failed call
    assert (without_reviews.degraded, without_reviews.degradations) == (False, [])
    assert with_reviews.degraded
    assert [section for section, _reason in with_reviews.degradations] == ["reviews"]
    assert [call.outcome for call in with_reviews.calls if call.service == "reviews"] == ["unavailable"]


def recorders_in_module_state() -> list[str]:
    """Every module-level name of the app's modules that holds a recorder, directly or as a ContextVar's value."""
    found = []
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("bff.") or module is None:
            continue
        for name, value in vars(module).items():
            held = value.get(None) if isinstance(value, contextvars.ContextVar) else value
            if isinstance(held, InvocationRecord):
                found.append(f"{module_name}.{name}")
    return found


async def test_nothing_is_recorded_in_module_state_after_a_request() -> None:
    # Given a request served with its invocation's record
    fake = FakeDownstream()
    settings = settings_for(None, retry_max_attempts=1)
    app = build_app(settings, create_http_client(settings, transport=fake.transport()))
    record = InvocationRecord()
    async with recorded_client(app, record) as client:
        assert (await client.get("/product-details/P001")).status_code == 200
    calls_of_its_request = list(record.calls)
    # When another request is served without one (as uvicorn serves the app, outside any invocation)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        assert (await client.get("/product-details/P002")).status_code == 200
    # Then the first record kept its own three calls and got none of the second request's
    assert services_called(record) == ["inventory", "product", "reviews"]
    assert record.calls == calls_of_its_request
    # And no module of the app holds a record, directly or in a ContextVar
    assert recorders_in_module_state() == []


def test_a_shared_cache_error_is_recorded_against_the_shared_tier() -> None:
    # Given an invocation's record, seen as the Recorder the layers receive
    record = InvocationRecord()
    recorder: Recorder = record
    # When the fragment cache reports a timed-out L2 read
    recorder.record_cache_error("timeout")
    # Then the line will name it by tier and kind
    assert record.cache_errors == [("l2", "timeout")]
