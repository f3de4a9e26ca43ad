"""Resilience over time, against real mock processes: breaker transitions, the retry budget, hedging, stale."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from tests.support.mock_processes import MockProcess, MockServiceFactory, free_port
from tests.support.resilience import (
    NO_HEDGING,
    bff_client,
    breaker_transitions,
    connections_seen_by,
    mock_on_port,
    requests_seen_by,
    urls_with,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PAGE = "/product-details/P001"


async def test_breaker_opens_probes_reopens_and_closes(
    reference_mocks: dict[str, MockProcess], mock_service_factory: MockServiceFactory
) -> None:
    # Given reviews fails its first two calls and then recovers, and a breaker that trips on one failure
    reviews = mock_service_factory("reviews", MOCK_FAULT="flaky:2")
    settings = {"breaker_failure_threshold": 1, "breaker_open_ms": 300, "retry_max_attempts": 1, **NO_HEDGING}
    settings["reviews_cache_ttl_s"] = 0  # every page asks the service (or its breaker)
    with breaker_transitions() as transitions:
        async with bff_client(urls_with(reference_mocks, reviews=reviews.base_url), **settings) as client:
            # When pages are requested across two open periods
            failed = (await client.get(PAGE)).json()
            short_circuited = (await client.get(PAGE)).json()
            await asyncio.sleep(0.35)
            failed_probe = (await client.get(PAGE)).json()
            await asyncio.sleep(0.35)
            good_probe = (await client.get(PAGE)).json()
            closed = (await client.get(PAGE)).json()

    # Then the breaker goes closed -> open -> half-open -> open -> half-open -> closed
    assert transitions == [
        ("reviews", "closed", "open"),
        ("reviews", "open", "half_open"),
        ("reviews", "half_open", "open"),
        ("reviews", "open", "half_open"),
        ("reviews", "half_open", "closed"),
    ]
    assert failed["meta"]["degraded"] == [{"source": "reviews", "reason": "unavailable"}]
    assert short_circuited["meta"]["degraded"] == [{"source": "reviews", "reason": "circuit_open"}]
    assert failed_probe["meta"]["degraded"] == [{"source": "reviews", "reason": "unavailable"}]
    assert good_probe["meta"]["degraded"] == []
    assert closed["meta"]["degraded"] == []
    # And the open breaker kept the short-circuited request away from the service
    assert requests_seen_by(reviews) == 4


async def test_retry_budget_keeps_an_outage_from_multiplying_calls(
    reference_mocks: dict[str, MockProcess], mock_service_factory: MockServiceFactory
) -> None:
    # Given reviews answers 503 to everything, and a breaker that never trips, so only the budget limits retries
    reviews = mock_service_factory("reviews", MOCK_ERROR_RATE="1", MOCK_LATENCY_MS="0")
    settings = {"breaker_failure_threshold": 1_000, "breaker_window_size": 1_000, "retry_max_attempts": 3}
    async with bff_client(urls_with(reference_mocks, reviews=reviews.base_url), **settings) as client:
        # When 50 pages are requested one after another
        pages = [(await client.get(PAGE)).json() for _ in range(50)]

    # Then every page degrades, and the service sees at most 20 % more calls than pages, not 3x
    assert all(page["meta"]["degraded"] == [{"source": "reviews", "reason": "unavailable"}] for page in pages)
    assert 50 < requests_seen_by(reviews) <= 1.2 * 50


async def test_hedge_fires_after_its_delay_and_the_loser_is_cancelled(
    reference_mocks: dict[str, MockProcess], mock_service_factory: MockServiceFactory
) -> None:
    # Given product answers in 600 ms and hedges after 300 ms
    product = mock_service_factory("product", MOCK_LATENCY_MS="600")
    settings = {"page_deadline_ms": 1_500, "product_timeout_ms": 1_400, **NO_HEDGING, "product_hedge_delay_ms": 300}
    async with bff_client(urls_with(reference_mocks, product=product.base_url), **settings) as client:
        # When the page is requested
        response = await client.get(PAGE)

    # Then the page is whole
    assert response.status_code == 200
    assert response.json()["meta"]["degraded"] == []
    # And the hedge went out on its own connection: two requests, two connections
    assert (requests_seen_by(product), connections_seen_by(product)) == (2, 2)
    # And the first request won while the hedge, sent later, was cancelled: the loser was in flight for less time
    # than the winner (about 300 ms less; no tighter bound, since the two ends are measured in different processes)
    winner = product.wait_for_log_line(lambda line: line["event"] == "response")
    loser = product.wait_for_log_line(lambda line: line["event"] == "disconnect")
    assert (winner["status"], loser["status"]) == (200, None)
    assert loser["duration_ms"] < winner["duration_ms"]


async def test_no_hedge_when_the_answer_beats_the_delay(
    reference_mocks: dict[str, MockProcess], mock_service_factory: MockServiceFactory
) -> None:
    # Given product answers in 30 ms and hedges after 100 ms
    product = mock_service_factory("product", MOCK_LATENCY_MS="30")
    settings = {"page_deadline_ms": 1_000, **NO_HEDGING, "product_hedge_delay_ms": 100}
    async with bff_client(urls_with(reference_mocks, product=product.base_url), **settings) as client:
        # When the page is requested
        response = await client.get(PAGE)

    # Then exactly one request reached the product service
    assert response.status_code == 200
    assert requests_seen_by(product) == 1


@pytest.mark.parametrize("section", ["reviews", "product"])
async def test_stale_value_is_served_with_its_age_once_the_service_fails(
    reference_mocks: dict[str, MockProcess], tmp_path: Path, section: str
) -> None:
    # Given the section's service answered once, fresh for 1 s, and then went down
    port = free_port()
    urls = urls_with(reference_mocks, **{section: f"http://127.0.0.1:{port}"})
    async with bff_client(urls, **{f"{section}_cache_ttl_s": 1}) as client:
        with mock_on_port(section, port, tmp_path):
            good_started = time.monotonic()
            good = await client.get(PAGE)
            good_finished = time.monotonic()
        await asyncio.sleep(max(1.1 - (time.monotonic() - good_finished), 0))
        # When the page is requested again
        stale_started = time.monotonic()
        stale = await client.get(PAGE)
        stale_finished = time.monotonic()

    # Then the remembered value is served, marked stale with its age, and not cacheable
    assert stale.status_code == 200
    body = stale.json()
    assert body[section] == good.json()[section]
    [degradation] = body["meta"]["degraded"]
    assert (degradation["source"], degradation["reason"]) == (section, "stale")
    age = degradation["ageSeconds"]
    assert 1 <= math.floor(stale_started - good_finished) <= age <= math.floor(stale_finished - good_started)
    assert stale.headers["cache-control"] == "no-store"


HANG_SETTINGS = {
    "call-timeout-inside-page-deadline": {"page_deadline_ms": 400, "timeout_ms": 300, **NO_HEDGING},
    "call-timeout-cut-by-page-deadline": {"page_deadline_ms": 400, "timeout_ms": 450, **NO_HEDGING},
    "default-settings-with-hedging": {},
}


@pytest.mark.parametrize("section", ["reviews", "product"])
@pytest.mark.parametrize("settings", HANG_SETTINGS.values(), ids=HANG_SETTINGS.keys())
async def test_stale_value_is_served_when_the_service_starts_hanging(
    reference_mocks: dict[str, MockProcess], tmp_path: Path, section: str, settings: dict[str, object]
) -> None:
    # Given the section's service answered once (fresh for 1 s), then was restarted on the same port and now hangs
    port = free_port()
    timeout_setting = f"{section}_timeout_ms"
    overrides = {(timeout_setting if key == "timeout_ms" else key): value for key, value in settings.items()}
    overrides[f"{section}_cache_ttl_s"] = 1
    urls = urls_with(reference_mocks, **{section: f"http://127.0.0.1:{port}"})
    async with bff_client(urls, **overrides) as client:
        with mock_on_port(section, port, tmp_path):
            good = await client.get(PAGE)
        await asyncio.sleep(1.05)  # past its freshness: only a failed call may now be answered from it
        with mock_on_port(section, port, tmp_path, {"MOCK_FAULT": "hang"}):
            # When the page is requested again
            stale = await client.get(PAGE)

    # Then the remembered value is served, whichever timer ran out first: the call's or the page's
    assert stale.status_code == 200
    assert stale.json()[section] == good.json()[section]
    assert [entry["reason"] for entry in stale.json()["meta"]["degraded"]] == ["stale"]
