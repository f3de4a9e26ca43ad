"""The resilient caller with scripted attempts: retries, budget, hedging and breaker."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from bff.cache.memory import MemoryStore
from bff.cache.tiered import TieredCache
from bff.config.pages import product_details_page
from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched
from bff.core.sections import Section
from bff.core.service import PageService
from bff.resilience.backoff import Backoff
from bff.resilience.caching import CachePolicy, ReadCache
from bff.resilience.caller import Attempt, ResilientCaller
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.guard import DownstreamGuard, RetryPolicy
from bff.resilience.reads import SectionReads
from bff.resilience.retry_budget import RetryBudget
from tests.support.context import NO_CONTEXT
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio
PRODUCT = product_details_page(settings_for()).sections[0]
GOOD = Fetched({"id": "P1"}, duration_ms=1.0)
UNAVAILABLE_RETRYABLE = Failed(FailureReason.UNAVAILABLE, 1.0, retryable=True)
SERVER_ERROR = Failed(FailureReason.UNAVAILABLE, 1.0, retryable=False)


@dataclass
class ScriptedAttempts:
    """Answers attempts in order from a script of (delay, outcome); the last entry repeats."""

    script: list[tuple[float, Failed | Fetched]]
    started_at: list[float] = field(default_factory=list)
    attempt_numbers: list[int] = field(default_factory=list)
    cancelled: int = 0

    async def __call__(
        self, section: Section, entity_id: str, timeout_s: float, context: RequestContext, attempt: int
    ) -> Failed | Fetched:
        self.attempt_numbers.append(attempt)
        index = min(len(self.started_at), len(self.script) - 1)
        self.started_at.append(time.perf_counter())
        delay_s, outcome = self.script[index]
        try:
            await asyncio.sleep(min(delay_s, timeout_s))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return outcome if delay_s <= timeout_s else Failed(FailureReason.TIMEOUT, timeout_s * 1000)


def caller_for(
    attempts: Attempt,
    *,
    hedge_delay_s: float | None = None,
    max_attempts: int = 3,
    budget: RetryBudget | None = None,
    breaker: CircuitBreaker | None = None,
    slots: int = 8,
) -> tuple[ResilientCaller, DownstreamGuard]:
    guard = DownstreamGuard(
        breaker=breaker or CircuitBreaker("product"),
        budget=budget or RetryBudget(),
        bulkhead=asyncio.Semaphore(slots),
        hedge_delay_s=hedge_delay_s,
    )
    caller = ResilientCaller(
        attempts,
        {"product": guard},
        RetryPolicy(max_attempts, Backoff(0.001, 0.002)),
    )
    return caller, guard


async def fetch(caller: ResilientCaller, deadline_ms: float = 500) -> Failed | Fetched:
    return await caller.fetch(PRODUCT, "P1", Deadline.after_ms(deadline_ms), NO_CONTEXT)


async def test_retryable_failure_is_retried_until_it_succeeds() -> None:
    attempts = ScriptedAttempts([(0, UNAVAILABLE_RETRYABLE), (0, GOOD)])
    caller, _ = caller_for(attempts)
    assert await fetch(caller) == GOOD
    assert len(attempts.started_at) == 2


async def test_non_retryable_failure_is_not_retried() -> None:
    attempts = ScriptedAttempts([(0, SERVER_ERROR), (0, GOOD)])
    caller, _ = caller_for(attempts)
    assert await fetch(caller) == SERVER_ERROR
    assert len(attempts.started_at) == 1


async def test_attempts_stop_at_the_maximum() -> None:
    attempts = ScriptedAttempts([(0, UNAVAILABLE_RETRYABLE)])
    caller, _ = caller_for(attempts, max_attempts=3)
    assert await fetch(caller) == UNAVAILABLE_RETRYABLE
    assert attempts.attempt_numbers == [1, 2, 3]


async def test_retry_after_that_does_not_fit_the_deadline_is_not_waited_for() -> None:
    too_late = Failed(FailureReason.UNAVAILABLE, 1.0, retryable=True, retry_after_s=2.0)
    attempts = ScriptedAttempts([(0, too_late), (0, GOOD)])
    caller, _ = caller_for(attempts)
    started = time.perf_counter()
    assert await fetch(caller, deadline_ms=300) == too_late
    assert time.perf_counter() - started < 0.1
    assert len(attempts.started_at) == 1


async def test_retry_after_that_fits_is_honoured() -> None:
    attempts = ScriptedAttempts(
        [(0, Failed(FailureReason.UNAVAILABLE, 1.0, retryable=True, retry_after_s=0.1)), (0, GOOD)]
    )
    caller, _ = caller_for(attempts)
    assert await fetch(caller) == GOOD
    assert attempts.started_at[1] - attempts.started_at[0] >= 0.1


async def test_an_exhausted_budget_stops_retries() -> None:
    budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    budget.tokens = 5.5
    attempts = ScriptedAttempts([(0, UNAVAILABLE_RETRYABLE)])
    caller, _ = caller_for(attempts, budget=budget)
    await fetch(caller)
    assert len(attempts.started_at) == 1


async def test_steady_failure_costs_at_most_twenty_percent_extra_calls() -> None:
    # Given a downstream that answers 503 to everything, and a breaker that never opens
    attempts = ScriptedAttempts([(0, UNAVAILABLE_RETRYABLE)])
    caller, _ = caller_for(attempts, breaker=CircuitBreaker("product", failure_threshold=10**6, window_size=10**6))
    # When 100 requests arrive
    for _ in range(100):
        await fetch(caller)
    # Then the retry budget holds downstream calls to at most 1.2x the requests
    assert len(attempts.started_at) <= 120


async def test_hedge_fires_only_after_the_delay_and_the_loser_is_cancelled() -> None:
    attempts = ScriptedAttempts([(0.3, GOOD), (0.01, GOOD)])
    caller, guard = caller_for(attempts, hedge_delay_s=0.05)
    tokens_before = guard.budget.tokens
    started = time.perf_counter()
    assert await fetch(caller) == GOOD
    elapsed = time.perf_counter() - started
    assert len(attempts.started_at) == 2
    assert attempts.started_at[1] - attempts.started_at[0] >= 0.05
    assert attempts.cancelled == 1
    assert elapsed < 0.2
    assert guard.budget.tokens < tokens_before, "a hedge is paid for from the retry budget"


async def test_a_hedge_that_wins_leaves_the_callers_task_free_to_go_on() -> None:
    # Given a slow first attempt that a quick hedge beats
    attempts = ScriptedAttempts([(0.3, GOOD), (0.01, GOOD)])
    caller, guard = caller_for(attempts, hedge_delay_s=0.02)
    # When the call returns the hedge's answer
    assert await fetch(caller) == GOOD
    # Then the task that made it is not left cancelling, can await again, and every bulkhead slot is back
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(0)
    assert (attempts.cancelled, guard.bulkhead._value) == (1, 8)


async def test_a_first_attempt_that_fails_while_the_hedge_is_out_waits_for_the_hedge() -> None:
    # Given a first attempt that fails (503) after the hedge went out, and a hedge that answers after that
    attempts = ScriptedAttempts([(0.1, SERVER_ERROR), (0.1, GOOD)])
    caller, _ = caller_for(attempts, hedge_delay_s=0.03, max_attempts=1)
    # Then the hedge's answer is the call's, and nothing was cancelled
    assert await fetch(caller) == GOOD
    assert (len(attempts.started_at), attempts.cancelled) == (2, 0)


async def test_a_hedge_that_fails_first_leaves_the_first_attempt_to_answer() -> None:
    # Given a hedge that fails quickly while the first attempt is still on its way
    attempts = ScriptedAttempts([(0.15, GOOD), (0.01, SERVER_ERROR)])
    caller, _ = caller_for(attempts, hedge_delay_s=0.03, max_attempts=1)
    # Then the first attempt's answer is the call's, and it was not cancelled
    assert await fetch(caller) == GOOD
    assert (len(attempts.started_at), attempts.cancelled) == (2, 0)


async def test_neither_attempt_definitive_answers_with_the_last_to_end() -> None:
    timeout = Failed(FailureReason.TIMEOUT, 1.0)
    attempts = ScriptedAttempts([(0.05, SERVER_ERROR), (0.1, timeout)])
    caller, _ = caller_for(attempts, hedge_delay_s=0.02, max_attempts=1)
    assert await fetch(caller) == timeout


async def test_when_the_hedge_fails_first_the_first_attempts_later_failure_is_the_answer() -> None:
    # Given a hedge that fails at once (503) and a first attempt that times out later
    timeout = Failed(FailureReason.TIMEOUT, 80.0)
    attempts = ScriptedAttempts([(0.08, timeout), (0.005, SERVER_ERROR)])
    caller, _ = caller_for(attempts, hedge_delay_s=0.01, max_attempts=1)
    # Then the answer is the one that ended last: the timeout (counted as such by the breaker and the latency)
    assert await fetch(caller) == timeout


async def test_a_hedge_refused_by_a_full_bulkhead_does_not_hide_the_first_attempts_retryable_failure() -> None:
    # Given one bulkhead slot, held by the first attempt when the hedge is due (so the hedge is refused at once)
    attempts = ScriptedAttempts([(0.05, UNAVAILABLE_RETRYABLE), (0.0, GOOD)])
    caller, _ = caller_for(attempts, hedge_delay_s=0.01, slots=1)
    # Then the first attempt's retryable 503 is retried, and the retry answers (the refused hedge reached no one)
    assert await fetch(caller) == GOOD
    assert len(attempts.started_at) == 2


async def test_a_first_attempt_that_turns_its_cancellation_into_an_error_still_yields_the_hedges_answer() -> None:
    # Given a first attempt whose library raises its own error when cancelled, and a quick hedge
    calls = 0

    async def attempt(
        section: Section, entity_id: str, timeout_s: float, context: RequestContext, number: int
    ) -> Failed | Fetched:
        nonlocal calls
        calls += 1
        if calls > 1:
            return GOOD
        try:
            await asyncio.sleep(1.0)
        except asyncio.CancelledError:
            raise RuntimeError("connection torn down") from None
        return SERVER_ERROR

    caller, _ = caller_for(attempt, hedge_delay_s=0.01)
    # Then the hedge's answer is the call's, and the task is not left cancelling
    assert await fetch(caller) == GOOD
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_a_race_cancelled_from_outside_cancels_both_attempts_and_frees_the_bulkhead() -> None:
    # Given a first attempt and its hedge both in flight
    attempts = ScriptedAttempts([(5.0, GOOD), (5.0, GOOD)])
    caller, guard = caller_for(attempts, hedge_delay_s=0.02)
    call = asyncio.create_task(fetch(caller, deadline_ms=10_000))
    await asyncio.sleep(0.1)
    assert len(attempts.started_at) == 2
    # When the page stops waiting for the section
    call.cancel()
    # Then the cancellation goes on to the caller, both attempts are cancelled, and no slot is held
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (attempts.cancelled, guard.bulkhead._value) == (2, 8)


async def test_an_exhausted_budget_sends_no_hedge_and_waits_for_the_first_attempt() -> None:
    attempts = ScriptedAttempts([(0.1, GOOD), (0.01, GOOD)])
    budget = RetryBudget()
    budget.tokens = budget.max_tokens / 2  # at half, no retry and no hedge is allowed
    caller, _ = caller_for(attempts, hedge_delay_s=0.02, budget=budget)
    assert await fetch(caller) == GOOD
    assert len(attempts.started_at) == 1


async def test_no_hedge_when_the_first_attempt_answers_in_time() -> None:
    attempts = ScriptedAttempts([(0.01, GOOD)])
    caller, _ = caller_for(attempts, hedge_delay_s=0.1)
    assert await fetch(caller) == GOOD
    assert len(attempts.started_at) == 1


async def test_open_breaker_fails_fast_with_retry_after() -> None:
    breaker = CircuitBreaker("product", failure_threshold=1, open_s=30)
    attempts = ScriptedAttempts([(0, SERVER_ERROR)])
    caller, _ = caller_for(attempts, breaker=breaker)
    await fetch(caller)
    assert breaker.state is BreakerState.OPEN
    outcome = await fetch(caller)
    assert isinstance(outcome, Failed)
    assert outcome.reason is FailureReason.CIRCUIT_OPEN
    assert outcome.retry_after_s is not None
    assert 29 < outcome.retry_after_s <= 30
    assert len(attempts.started_at) == 1


async def test_not_found_is_an_answer_not_a_reason_to_serve_stale() -> None:
    not_found = Failed(FailureReason.NOT_FOUND, 1.0)
    attempts = ScriptedAttempts([(0, GOOD), (0, not_found)])
    caller, guard = caller_for(attempts)
    await fetch(caller)
    assert await fetch(caller) == not_found
    assert guard.breaker.state is BreakerState.CLOSED


async def test_a_full_bulkhead_refuses_new_calls_without_blaming_the_service() -> None:
    # Given a downstream whose single in-flight slot is taken by a slow call
    attempts = ScriptedAttempts([(0.2, GOOD)])
    caller, guard = caller_for(attempts)
    guard.bulkhead = asyncio.Semaphore(1)
    slow = asyncio.create_task(fetch(caller))
    await asyncio.sleep(0.01)
    # When another call arrives
    refused = await fetch(caller)
    # Then it is refused at once, the slow one completes, and the breaker does not count it against the service
    assert isinstance(refused, Failed)
    assert refused.reason is FailureReason.BULKHEAD_FULL
    assert await slow == GOOD
    assert len(attempts.started_at) == 1
    assert guard.breaker.state is BreakerState.CLOSED


async def test_a_not_found_probe_closes_a_half_open_breaker() -> None:
    clock = [0.0]
    transitions: list[BreakerState] = []
    breaker = CircuitBreaker(
        "product",
        failure_threshold=1,
        open_s=1.0,
        clock=lambda: clock[0],
        on_transition=lambda _service, _old, new: transitions.append(new),
    )
    attempts = ScriptedAttempts([(0, SERVER_ERROR), (0, Failed(FailureReason.NOT_FOUND, 1.0))])
    caller, _ = caller_for(attempts, breaker=breaker)
    await fetch(caller)
    clock[0] = 2.0
    outcome = await fetch(caller)
    assert isinstance(outcome, Failed)
    assert outcome.reason is FailureReason.NOT_FOUND
    assert transitions == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def guard_for_service(service: str) -> DownstreamGuard:
    return DownstreamGuard(CircuitBreaker(service), RetryBudget(), asyncio.Semaphore(8), hedge_delay_s=None)


async def test_sections_launch_slowest_first_once_their_services_have_answered() -> None:
    # Given services that answer in 50 (product), 80 (reviews) and 30 ms (inventory), and a page that has
    # rendered once
    sections = product_details_page(settings_for()).sections
    delays_s = {"product": 0.05, "reviews": 0.08, "inventory": 0.03}
    started: list[str] = []

    async def answer(section: Section, *_: object) -> Failed | Fetched:
        started.append(section.service)
        await asyncio.sleep(delays_s[section.service])
        return Fetched({}, duration_ms=delays_s[section.service] * 1000)

    guards = {section.service: guard_for_service(section.service) for section in sections}
    caller = ResilientCaller(answer, guards, RetryPolicy(1, Backoff(0.001, 0.002)))
    uncached = ReadCache(TieredCache(MemoryStore(10), None), CachePolicy({}, 0.0, 0.0, 0.0))
    page = PageService(
        product_details_page(settings_for()), SectionReads(caller, uncached), deadline_ms=500, reserve_ms=0
    )
    await page.render("P1", NO_CONTEXT)
    # When it renders again
    await page.render("P1", NO_CONTEXT)
    # Then the first went out in the page's order, the second slowest first
    assert started == ["product", "reviews", "inventory", "reviews", "product", "inventory"]


async def test_a_timeout_counts_its_time_and_a_quick_refusal_does_not() -> None:
    refused_caller, refused_guard = caller_for(ScriptedAttempts([(0, SERVER_ERROR)]), max_attempts=1)
    slow_caller, slow_guard = caller_for(ScriptedAttempts([(1.0, GOOD)]), max_attempts=1)
    await fetch(refused_caller)
    timed_out = await fetch(slow_caller, deadline_ms=60)
    assert isinstance(timed_out, Failed)
    assert timed_out.reason is FailureReason.TIMEOUT
    assert refused_guard.latency.mean_ms == 0.0
    assert slow_guard.latency.mean_ms >= 50.0
