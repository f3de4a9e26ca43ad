"""Failures are counted against the party that caused them: a refusal of the caller's own request (a 4xx other
than 404, 408 and 429) never feeds a breaker or a retry budget, on reads and on writes alike."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import TypeAdapter

from bff.cache.fleet_state import MemoryFleetStore
from bff.composition import guard_for
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched
from bff.core.sections import Section
from bff.downstream.client import DownstreamClient
from bff.downstream.http import create_http_client
from bff.resilience.backoff import Backoff
from bff.resilience.caller import ResilientCaller
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.fleet_breaker import FleetBreakers
from bff.resilience.guard import DownstreamGuard, RetryPolicy
from bff.resilience.writes import WriteCaller
from tests.support.context import NO_CONTEXT, request_context
from tests.support.fake_downstream import SERVICE_HOSTS, FakeDownstream
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio

CART = Section("cart", "cart", "/carts/{id}", 400, TypeAdapter(object), critical=True)
REFUSALS = 25
POLICY = RetryPolicy(3, Backoff(0.001, 0.002))


def client_for(fake: FakeDownstream) -> DownstreamClient:
    settings = settings_for()
    http = create_http_client(settings, transport=fake.transport())
    return DownstreamClient(http, SERVICE_HOSTS, max_response_bytes=settings.max_response_bytes)


def cart_guard() -> DownstreamGuard:
    return guard_for("cart", settings_for(breaker_failure_threshold=5, retry_budget_max_tokens=10))


async def fetch_through_a_caller(fake: FakeDownstream, guard: DownstreamGuard, times: int) -> list[Failed | Fetched]:
    client = client_for(fake)
    caller = ResilientCaller(client.fetch_once, {"cart": guard}, POLICY)
    return [await caller.fetch(CART, "bad.user", Deadline.after_ms(1_000), NO_CONTEXT) for _ in range(times)]


async def post_through_a_caller(fake: FakeDownstream, guard: DownstreamGuard, times: int) -> list[Failed | Fetched]:
    client = client_for(fake)
    caller = WriteCaller(client.post_once, {"cart": guard}, POLICY)
    headers = {"idempotency-key": "k1"}
    return [
        await caller.write(CART, "bad.user", b"{}", Deadline.after_ms(1_000), request_context(headers))
        for _ in range(times)
    ]


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 422])
@pytest.mark.parametrize("call", [fetch_through_a_caller, post_through_a_caller], ids=["read", "write"])
async def test_refusals_of_the_callers_input_never_open_the_breaker_nor_drain_the_budget(
    call: object, status: int
) -> None:
    # Given a service that refuses one shopper's requests with a 4xx
    fake = FakeDownstream()
    fake.script("cart", status=status, body={"title": "refused"})
    guard = cart_guard()
    # When that shopper is refused 25 times
    outcomes = await call(fake, guard, REFUSALS)  # type: ignore[operator]
    # Then each answer is a refusal, sent once, and the breaker and the budget are as they were
    assert {outcome.reason for outcome in outcomes if isinstance(outcome, Failed)} == {FailureReason.REFUSED}
    assert len(fake.calls_to("cart")) == REFUSALS
    assert guard.breaker.state is BreakerState.CLOSED
    assert guard.budget.tokens == guard.budget.max_tokens


@pytest.mark.parametrize("status", [408, 429, 500, 503])
@pytest.mark.parametrize("call", [fetch_through_a_caller, post_through_a_caller], ids=["read", "write"])
async def test_service_side_failures_still_open_the_breaker(call: object, status: int) -> None:
    fake = FakeDownstream()
    fake.script("cart", status=status, body={"title": "failed"})
    guard = cart_guard()
    outcomes = await call(fake, guard, REFUSALS)  # type: ignore[operator]
    assert guard.breaker.state is BreakerState.OPEN
    assert any(isinstance(outcome, Failed) and outcome.reason is FailureReason.CIRCUIT_OPEN for outcome in outcomes)


async def test_a_refused_call_frees_a_half_open_probe() -> None:
    # Given an open breaker whose open time has passed (the next call is the single probe)
    guard = cart_guard()
    breaker = guard.breaker
    assert isinstance(breaker, CircuitBreaker)
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()
    breaker.open_s = 0.0
    fake = FakeDownstream()
    fake.script("cart", status=400, body={"title": "refused"})
    # When the probe is refused for the caller's input
    await fetch_through_a_caller(fake, guard, 1)
    await asyncio.sleep(0)
    # Then the probe is released: the next caller may probe the service
    assert guard.breaker.allow()


@pytest.mark.parametrize("status", [400, 422])
async def test_refusals_of_the_callers_input_are_never_reported_to_the_fleet(status: int) -> None:
    # Given a cart guard whose breaker is the fleet's shared one, and a service refusing one shopper with a 4xx
    fleet = FleetBreakers(MemoryFleetStore())
    assert await fleet.refresh(1.0)
    guard = guard_for("cart", settings_for(breaker_failure_threshold=5), fleet)
    fake = FakeDownstream()
    fake.script("cart", status=status, body={"title": "refused"})
    # When that shopper is refused 25 times
    await fetch_through_a_caller(fake, guard, REFUSALS)
    await fleet.sync()
    # Then nothing was reported to the fleet: no write, and the fleet's window counted nothing
    assert len(fake.calls_to("cart")) == REFUSALS
    assert fleet.operations["write"] == 0
    assert fleet.record_for("cart", fleet.now()) is None
