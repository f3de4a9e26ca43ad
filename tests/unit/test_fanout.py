"""The fan-out: one task per section for every id, the deadline, the fallback, and the early exit when the critical
section has failed for every id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from bff.config.pages import product_details_page
from bff.core.deadline import Deadline
from bff.core.fanout import FetchSection, fan_out
from bff.core.outcomes import Failed, FailureReason, Fetched, SectionOutcome, Stale
from bff.core.sections import Section
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio
PAGE = product_details_page(settings_for())
ONE = ("P1",)


def scripted(
    delays_s: dict[str, float],
    failures: dict[str, dict[str, FailureReason]] | None = None,
    entity_ids: Sequence[str] = ONE,
) -> tuple[FetchSection, dict[str, str]]:
    """Each section answers every id after its delay; `failures` fails some ids of some sections."""
    states: dict[str, str] = {}

    async def fetch(section: Section) -> dict[str, SectionOutcome]:
        states[section.name] = "started"
        try:
            await asyncio.sleep(delays_s[section.name])
        except asyncio.CancelledError:
            states[section.name] = "cancelled"
            raise
        states[section.name] = "finished"
        failed = (failures or {}).get(section.name, {})
        return {
            entity_id: Failed(failed[entity_id], duration_ms=1.0)
            if entity_id in failed
            else Fetched({"section": section.name}, duration_ms=1.0)
            for entity_id in entity_ids
        }

    return fetch, states


async def test_sections_run_concurrently_so_the_page_waits_for_the_slowest_only() -> None:
    fetch, _ = scripted({"product": 0.05, "reviews": 0.08, "inventory": 0.03})
    started = time.perf_counter()
    fanned = await fan_out(PAGE.sections, ONE, fetch, Deadline.after_ms(500))
    elapsed = time.perf_counter() - started
    assert all(isinstance(by_id["P1"], Fetched) for by_id in fanned.outcomes.values())
    assert elapsed < 0.16  # the sum of the three delays; concurrency gives about the max, 0.08
    # Each section's time is its own: the quickest ended well before the slowest
    assert fanned.elapsed_ms["inventory"] < fanned.elapsed_ms["reviews"]


async def test_deadline_cancels_late_optional_calls_and_answers_on_time() -> None:
    fetch, states = scripted({"product": 0.01, "reviews": 5.0, "inventory": 0.01})
    started = time.perf_counter()
    fanned = await fan_out(PAGE.sections, ONE, fetch, Deadline.after_ms(100))
    elapsed = time.perf_counter() - started
    reviews = fanned.outcomes["reviews"]["P1"]
    assert isinstance(reviews, Failed)
    assert reviews.reason is FailureReason.TIMEOUT
    assert reviews.duration_ms >= 100
    assert isinstance(fanned.outcomes["product"]["P1"], Fetched)
    assert states["reviews"] == "cancelled"
    assert elapsed < 1.0


async def test_a_cut_section_is_handed_to_the_fallback_for_each_of_its_ids() -> None:
    # Given reviews that hang past the deadline for two ids, and a fallback that has a stale copy of B only
    ids = ("A", "B")
    fetch, _ = scripted({"product": 0.0, "reviews": 5.0, "inventory": 0.0}, entity_ids=ids)
    asked: list[tuple[str, str, FailureReason]] = []

    def fallback(section: Section, entity_id: str, failure: Failed) -> SectionOutcome:
        asked.append((section.name, entity_id, failure.reason))
        return Stale([], age_s=3.0) if entity_id == "B" else failure

    # When the fan-out runs
    fanned = await fan_out(PAGE.sections, ids, fetch, Deadline.after_ms(50), fallback)
    # Then the fallback was asked once per id of the cut section only, and its answers are the outcomes
    assert asked == [("reviews", "A", FailureReason.TIMEOUT), ("reviews", "B", FailureReason.TIMEOUT)]
    assert isinstance(fanned.outcomes["reviews"]["A"], Failed)
    assert fanned.outcomes["reviews"]["B"] == Stale([], age_s=3.0)


async def test_failed_critical_section_stops_waiting_for_optional_ones() -> None:
    fetch, states = scripted(
        {"product": 0.01, "reviews": 5.0, "inventory": 5.0}, failures={"product": {"P1": FailureReason.NOT_FOUND}}
    )
    started = time.perf_counter()
    fanned = await fan_out(PAGE.sections, ONE, fetch, Deadline.after_ms(2000))
    assert time.perf_counter() - started < 1.0
    assert fanned.outcomes["product"]["P1"] == Failed(FailureReason.NOT_FOUND, duration_ms=1.0)
    assert states["reviews"] == states["inventory"] == "cancelled"


async def test_a_critical_section_failed_for_every_id_stops_the_wait() -> None:
    ids = ("A", "B")
    failures = {"product": {"A": FailureReason.NOT_FOUND, "B": FailureReason.UNAVAILABLE}}
    fetch, states = scripted({"product": 0.01, "reviews": 5.0, "inventory": 5.0}, failures, ids)
    started = time.perf_counter()
    await fan_out(PAGE.sections, ids, fetch, Deadline.after_ms(2000))
    assert time.perf_counter() - started < 1.0
    assert states["reviews"] == states["inventory"] == "cancelled"


async def test_a_critical_section_answered_for_one_id_waits_for_the_others() -> None:
    # Given a product found for A only: A's page still needs its reviews and stock
    ids = ("A", "B")
    fetch, states = scripted(
        {"product": 0.0, "reviews": 0.05, "inventory": 0.05}, {"product": {"B": FailureReason.NOT_FOUND}}, ids
    )
    fanned = await fan_out(PAGE.sections, ids, fetch, Deadline.after_ms(2000))
    assert states == {"product": "finished", "reviews": "finished", "inventory": "finished"}
    assert isinstance(fanned.outcomes["reviews"]["A"], Fetched)


async def test_expired_budget_starts_no_call() -> None:
    fetch, states = scripted({"product": 0.0, "reviews": 0.0, "inventory": 0.0})
    fanned = await fan_out(PAGE.sections, ONE, fetch, Deadline.after_ms(0))
    assert states == {}
    outcomes = [outcome for by_id in fanned.outcomes.values() for outcome in by_id.values()]
    assert outcomes == [Failed(FailureReason.TIMEOUT, duration_ms=0.0)] * 3


async def test_calls_start_in_the_order_given() -> None:
    fetch, states = scripted({"product": 0.0, "reviews": 0.0, "inventory": 0.0})
    reviews, product, inventory = PAGE.sections[1], PAGE.sections[0], PAGE.sections[2]
    fanned = await fan_out([reviews, product, inventory], ONE, fetch, Deadline.after_ms(500))
    assert list(states) == ["reviews", "product", "inventory"]
    assert set(fanned.outcomes) == {"product", "reviews", "inventory"}
