"""A change of the fleet's shared breaker state is a metric, never a line of its own during a request: counted in
the request's one line when learnt during it, one document when learnt outside an invocation (init, restore)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bff.cache.fleet_state import MemoryFleetStore
from bff.composition import build_app
from bff.downstream.http import create_http_client
from bff.observability.metrics import OUTSIDE_INVOCATION, InvocationRecord, count_responses
from bff.resilience.fleet_breaker import FleetBreakers
from tests.support.fake_downstream import FakeDownstream
from tests.support.lambda_context import FakeLambdaContext
from tests.support.log_lines import Lines, metric_names
from tests.support.recording import recorded_client
from tests.support.settings import settings_for


def test_a_transition_during_an_invocation_is_counted_in_its_one_line(emf: Lines, log_lines: Lines) -> None:
    # Given a handler during whose invocation the environment learns that the fleet opened reviews
    def learning(event: dict[str, Any], context: Any, record: InvocationRecord) -> dict[str, Any]:
        record.record_fleet_transition("reviews", "closed", "open")
        return {"statusCode": 200}

    # When it is invoked
    count_responses(learning)({}, FakeLambdaContext())
    # Then the invocation wrote one line, a WARNING naming the change and counting it by service and state
    (line,) = emf()
    assert line["level"] == "WARNING"
    assert line["fleet"] == ["reviews:open"]
    assert (line["FleetTransitions"], line["FleetReviewsOpen"]) == ([1], [1])
    assert {"FleetTransitions", "FleetReviewsOpen"} <= set(metric_names(line))
    assert log_lines() == []


def test_a_transition_outside_an_invocation_is_one_document(emf: Lines, log_lines: Lines) -> None:
    # When the environment learns at init that the fleet started the ramp of reviews
    OUTSIDE_INVOCATION.record_fleet_transition("reviews", "open", "ramp")
    # Then one document counts it, and no other line is written
    (line,) = emf()
    assert line["fleet"] == ["reviews:ramp"]
    assert (line["FleetTransitions"], line["FleetReviewsRamp"]) == ([1], [1])
    assert log_lines() == []


@pytest.mark.anyio
async def test_a_page_that_learns_the_fleet_opened_a_service_counts_it_in_its_own_record() -> None:
    # Given a fleet that opened reviews, an environment that has not read it yet, and the app as composed
    store = MemoryFleetStore()
    await store.trip("reviews", time.time(), time.time() + 60)
    fleet = FleetBreakers(store)
    fake = FakeDownstream()
    settings = settings_for()
    app = build_app(settings, create_http_client(settings, transport=fake.transport()), fleet=fleet)
    record = InvocationRecord()
    # When a page is served with its own record (the sync reading the state starts as the request starts)
    async with recorded_client(app, record) as client:
        assert (await client.get("/product-details/P001")).status_code == 200
    # Then the change was counted in that page's record, once
    assert record.fleet_transitions == [("reviews", "open")]
