"""The shared breaker as the composition root wires it: when it is on, and what a page does with it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from bff.cache.fleet_dynamodb import DynamoDbFleetStore
from bff.cache.fleet_redis import RedisFleetStore
from bff.cache.fleet_state import MemoryFleetStore
from bff.composition import build_app, build_fleet, compose, guard_for
from bff.downstream.http import create_http_client
from bff.resilience.circuit_breaker import CircuitBreaker
from bff.resilience.fleet_breaker import FleetBreaker, FleetBreakers
from bff.snapstart import SnapStartHooks
from tests.support.fake_downstream import FakeDownstream
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio


def test_the_shared_breaker_is_on_whenever_a_shared_store_is_configured() -> None:
    assert build_fleet(settings_for()) is None
    assert build_fleet(settings_for(cache_url="redis://127.0.0.1:9/0")) is not None
    assert build_fleet(settings_for(cache_table_name="fragments", aws_region="eu-west-1")) is not None
    assert build_fleet(settings_for(cache_url="redis://127.0.0.1:9/0", shared_breaker="off")) is None


@pytest.mark.parametrize(
    "store", [{"cache_url": "redis://127.0.0.1:9/0"}, {"cache_table_name": "fragments", "aws_region": "eu-west-1"}]
)
def test_the_fleet_state_has_a_client_of_its_own_beside_the_l2s(store: dict[str, Any]) -> None:
    # Given an environment composed with a shared store
    composition = compose(settings_for(**store), transport=FakeDownstream().transport())
    # Then the fleet's store holds a client of the same store, not the L2's (a fleet operation cut off by a
    # response drops its connection, which must not be the one the next page's L2 read uses)
    assert composition.fleet is not None
    fleet_store = composition.fleet.store
    assert isinstance(fleet_store, RedisFleetStore | DynamoDbFleetStore)
    l2_connection = getattr(composition.cache.l2, "connection", None)
    assert type(fleet_store.connection) is type(l2_connection)
    assert fleet_store.connection is not l2_connection


def test_a_guard_obeys_the_fleet_only_when_there_is_one() -> None:
    settings = settings_for(cache_url="redis://127.0.0.1:9/0", shared_breaker_failures=7, shared_breaker_ramp_ms=4000)
    fleet = build_fleet(settings)
    assert fleet is not None
    assert fleet.policy.failure_threshold == 7
    assert fleet.policy.ramp_s == 4.0
    assert isinstance(guard_for("reviews", settings, fleet).breaker, FleetBreaker)
    assert isinstance(guard_for("reviews", settings).breaker, CircuitBreaker)


async def test_a_page_never_calls_a_service_the_fleet_has_opened() -> None:
    # Given a fleet record that opened reviews, and an environment that has read it
    store = MemoryFleetStore()
    now = time.time()
    await store.trip("reviews", now, now + 60)
    fleet = FleetBreakers(store)
    assert await fleet.refresh(1.0)
    fake = FakeDownstream()
    settings = settings_for()
    app = build_app(settings, create_http_client(settings, transport=fake.transport()), fleet=fleet)
    # When pages are asked for
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        responses = [await client.get(f"/product-details/P00{i}") for i in range(3)]
    # Then each page is answered with reviews degraded, and reviews was never called
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert all(
        response.json()["meta"]["degraded"] == [{"source": "reviews", "reason": "circuit_open"}]
        for response in responses
    )
    assert fake.calls_to("reviews") == []
    assert len(fake.calls_to("product")) == 3


def test_a_restored_environment_reads_the_fleets_state_before_its_first_call() -> None:
    # Given an environment composed with a shared store (in memory here) where the fleet has opened reviews
    fake = FakeDownstream()
    composition = compose(settings_for(cache_url="redis://127.0.0.1:9/0"), transport=fake.transport())
    fleet = composition.fleet
    assert fleet is not None
    store = MemoryFleetStore()
    fleet.store = store
    loop = asyncio.new_event_loop()
    try:
        hooks = SnapStartHooks(loop, composition, composition.app)
        composition.cache.l2 = None  # the fragment cache's L2 is not under test: no connection attempts
        # When the snapshot is taken, the fleet opens reviews meanwhile, and the environment is restored
        hooks.before_snapshot()
        assert fleet.operations["read"] == 0
        now = time.time()
        loop.run_until_complete(store.trip("reviews", now, now + 60))
        hooks.after_restore()

        async def first_page() -> httpx.Response:
            transport = httpx.ASGITransport(app=composition.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
                return await client.get("/product-details/P001")

        response = loop.run_until_complete(first_page())
    finally:
        loop.run_until_complete(composition.http_client.aclose())
        loop.close()
    # Then its first page already skipped reviews, which was never called
    assert response.status_code == 200
    assert response.json()["meta"]["degraded"] == [{"source": "reviews", "reason": "circuit_open"}]
    assert fake.calls_to("reviews") == []
    assert fleet.operations["read"] >= 1
