"""The fan-out: concurrency, the deadline, and the early exit when the critical section fails."""

from __future__ import annotations

import asyncio
import time

import pytest

from bff.config.pages import product_details_page
from bff.core.deadline import Deadline
from bff.core.fanout import FetchSection, fan_out
from bff.core.outcomes import Failed, FailureReason, Fetched, SectionOutcome
from bff.core.sections import Section
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio
PAGE = product_details_page(settings_for())


def scripted(
    delays_s: dict[str, float], failures: dict[str, FailureReason] | None = None
) -> tuple[FetchSection, dict[str, str]]:
    states: dict[str, str] = {}

    async def fetch(section: Section, deadline: Deadline) -> SectionOutcome:
        states[section.name] = "started"
        try:
            await asyncio.sleep(delays_s[section.name])
        except asyncio.CancelledError:
            states[section.name] = "cancelled"
            raise
        states[section.name] = "finished"
        if failures and section.name in failures:
            return Failed(failures[section.name], duration_ms=1.0)
        return Fetched({"section": section.name}, duration_ms=1.0)

    return fetch, states


async def test_sections_run_concurrently_so_the_page_waits_for_the_slowest_only() -> None:
    fetch, _ = scripted({"product": 0.05, "reviews": 0.08, "inventory": 0.03})
    started = time.perf_counter()
    outcomes = await fan_out(PAGE, fetch, Deadline.after_ms(500))
    elapsed = time.perf_counter() - started
    assert all(isinstance(outcome, Fetched) for outcome in outcomes.values())
    assert elapsed < 0.16  # the sum of the three delays; concurrency gives about the max, 0.08


async def test_deadline_cancels_late_optional_calls_and_answers_on_time() -> None:
    fetch, states = scripted({"product": 0.01, "reviews": 5.0, "inventory": 0.01})
    started = time.perf_counter()
    outcomes = await fan_out(PAGE, fetch, Deadline.after_ms(100))
    elapsed = time.perf_counter() - started
    reviews = outcomes["reviews"]
    assert isinstance(reviews, Failed)
    assert reviews.reason is FailureReason.TIMEOUT
    assert reviews.duration_ms >= 100
    assert isinstance(outcomes["product"], Fetched)
    assert states["reviews"] == "cancelled"
    assert elapsed < 1.0


async def test_failed_critical_section_stops_waiting_for_optional_ones() -> None:
    fetch, states = scripted(
        {"product": 0.01, "reviews": 5.0, "inventory": 5.0}, failures={"product": FailureReason.NOT_FOUND}
    )
    started = time.perf_counter()
    outcomes = await fan_out(PAGE, fetch, Deadline.after_ms(2000))
    assert time.perf_counter() - started < 1.0
    assert outcomes["product"] == Failed(FailureReason.NOT_FOUND, duration_ms=1.0)
    assert states["reviews"] == states["inventory"] == "cancelled"


async def test_expired_budget_starts_no_call() -> None:
    fetch, states = scripted({"product": 0.0, "reviews": 0.0, "inventory": 0.0})
    outcomes = await fan_out(PAGE, fetch, Deadline.after_ms(0))
    assert states == {}
    assert {outcome.reason for outcome in outcomes.values() if isinstance(outcome, Failed)} == {FailureReason.TIMEOUT}


async def test_calls_start_in_the_launch_order_given() -> None:
    fetch, states = scripted({"product": 0.0, "reviews": 0.0, "inventory": 0.0})
    reviews, product, inventory = PAGE.sections[1], PAGE.sections[0], PAGE.sections[2]
    outcomes = await fan_out(PAGE, fetch, Deadline.after_ms(500), launch_order=[reviews, product, inventory])
    assert list(states) == ["reviews", "product", "inventory"]
    assert set(outcomes) == {"product", "reviews", "inventory"}


@pytest.mark.parametrize("launch_order", [PAGE.sections[:2], (*PAGE.sections, PAGE.sections[0])])
async def test_a_launch_order_that_drops_or_repeats_a_section_is_refused(launch_order: tuple[Section, ...]) -> None:
    fetch, states = scripted({"product": 0.0, "reviews": 0.0, "inventory": 0.0})
    with pytest.raises(ValueError, match="each of the page's sections once"):
        await fan_out(PAGE, fetch, Deadline.after_ms(500), launch_order=launch_order)
    assert states == {}
