"""The fleet simulation cuts a sync off when its page's response is ready, as the request path does: an operation
whose modelled answer would come after the response is never sent, and what was not sent stays pending."""

import pytest

from bench.fleet import PAGE_TAIL_S, STORE_LATENCY_S, VirtualClock, WatchedStore, _until_the_response
from bff.cache.fleet_state import MemoryFleetStore
from bff.resilience.circuit_breaker import CircuitBreaker
from bff.resilience.fleet_breaker import FleetBreakers

pytestmark = pytest.mark.anyio


async def test_a_sync_with_less_page_time_than_one_operation_sends_nothing_and_keeps_its_report() -> None:
    # Given an environment whose copy is fresh and whose call has failed
    clock = VirtualClock()
    store = WatchedStore(MemoryFleetStore(), clock)
    fleet = FleetBreakers(store, clock=clock)
    assert await fleet.refresh(1.0)
    fleet.breaker(CircuitBreaker("reviews", clock=clock)).record_failure()
    # When its sync runs with the page's tail left, shorter than one store operation
    assert PAGE_TAIL_S < STORE_LATENCY_S
    await _until_the_response(fleet.sync, PAGE_TAIL_S)
    # Then the report was cut before it was sent, and is still pending
    assert store.cut == {"report_failures": 1}
    assert fleet.reports_pending
    # And the next page's start, with a page's time, sends it once
    await _until_the_response(fleet.sync, 0.1)
    assert not fleet.reports_pending
    assert fleet.operations["write"] == 2  # the cut attempt and the sent one
    assert store.cut == {"report_failures": 1}
