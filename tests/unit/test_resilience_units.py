"""The resilience parts on their own (breaker, budget, backoff, last known good, latency), with fake clocks."""

from __future__ import annotations

import pytest

from bff.resilience.backoff import Backoff
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.latency import LatencyEstimate
from bff.resilience.retry_budget import RetryBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


type Transition = tuple[str, BreakerState, BreakerState]


def breaker(
    clock: FakeClock,
    transitions: list[Transition] | None = None,
    *,
    failure_threshold: int = 3,
    window_size: int = 10,
) -> CircuitBreaker:
    def record(service: str, old: BreakerState, new: BreakerState) -> None:
        if transitions is not None:
            transitions.append((service, old, new))

    return CircuitBreaker(
        "reviews",
        failure_threshold=failure_threshold,
        window_size=window_size,
        window_failure_ratio=0.5,
        open_s=5.0,
        clock=clock,
        on_transition=record,
    )


def feed(subject: CircuitBreaker, outcomes: str) -> None:
    """Calls through the breaker: "o" succeeds, "x" fails."""
    for outcome in outcomes:
        assert subject.allow()
        if outcome == "x":
            subject.record_failure()
        else:
            subject.record_success()


def test_breaker_opens_after_consecutive_failures_and_fails_fast() -> None:
    # Given a closed breaker that trips on 3 consecutive failures
    clock, transitions = FakeClock(), list[Transition]()
    subject = breaker(clock, transitions)
    # When 3 calls fail in a row
    feed(subject, "xxx")
    # Then it is open, refuses calls and says how long until it probes
    assert subject.state is BreakerState.OPEN
    assert not subject.allow()
    clock.advance(2)
    assert subject.retry_after_s() == pytest.approx(3.0)
    assert transitions == [("reviews", BreakerState.CLOSED, BreakerState.OPEN)]


def test_a_success_resets_the_consecutive_failure_count() -> None:
    subject = breaker(FakeClock(), window_size=100)
    feed(subject, "xxoxx")
    assert subject.state is BreakerState.CLOSED


def test_breaker_opens_when_the_window_failure_ratio_is_reached() -> None:
    # Given a breaker that never sees 3 failures in a row, over a window of 4 calls at 50 %
    subject = breaker(FakeClock(), window_size=4)
    # When half of a full window failed, alternately
    feed(subject, "oxox")
    # Then it opens
    assert subject.state is BreakerState.OPEN


def test_half_open_lets_exactly_one_probe_through_and_a_success_closes() -> None:
    # Given an open breaker whose open period has passed
    clock, transitions = FakeClock(), list[Transition]()
    subject = breaker(clock, transitions, failure_threshold=1)
    subject.record_failure()
    clock.advance(5)
    # When calls arrive
    first, second = subject.allow(), subject.allow()
    # Then only the first (the probe) goes out, and its success closes the breaker
    assert (first, second) == (True, False)
    subject.record_success()
    assert subject.state is BreakerState.CLOSED
    assert subject.allow()
    assert [new for _, _, new in transitions] == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_failed_probe_reopens_for_a_full_open_period() -> None:
    clock, transitions = FakeClock(), list[Transition]()
    subject = breaker(clock, transitions, failure_threshold=1)
    subject.record_failure()
    clock.advance(5)
    assert subject.allow()
    subject.record_failure()
    assert subject.state is BreakerState.OPEN
    assert subject.retry_after_s() == pytest.approx(5.0)
    assert transitions[-1] == ("reviews", BreakerState.HALF_OPEN, BreakerState.OPEN)


def test_an_abandoned_probe_frees_the_slot_for_the_next_call() -> None:
    clock = FakeClock()
    subject = breaker(clock, failure_threshold=1)
    subject.record_failure()
    clock.advance(5)
    assert subject.allow()
    subject.record_abandoned()
    assert subject.state is BreakerState.HALF_OPEN
    assert subject.allow()


def test_retry_budget_allows_retries_while_more_than_half_the_tokens_remain() -> None:
    budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    for _ in range(4):
        budget.record_failure()
    assert budget.allows_retry()
    budget.record_failure()
    assert not budget.allows_retry()


def test_retry_budget_refills_by_the_token_ratio_up_to_the_maximum() -> None:
    budget = RetryBudget(max_tokens=10, token_ratio=0.5)
    for _ in range(5):
        budget.record_failure()
    budget.record_success()
    assert budget.tokens == pytest.approx(5.5)
    assert budget.allows_retry()
    for _ in range(20):
        budget.record_success()
    assert budget.tokens == 10


def test_retry_budget_never_goes_below_zero_and_hedges_spend_a_token() -> None:
    budget = RetryBudget(max_tokens=2, token_ratio=0.1)
    budget.spend_on_hedge()
    assert budget.tokens == 1
    for _ in range(5):
        budget.record_failure()
    assert budget.tokens == 0


def test_backoff_draws_full_jitter_under_an_exponential_ceiling_that_is_capped() -> None:
    ceilings: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        ceilings.append((low, high))
        return high

    backoff = Backoff(base_s=0.02, cap_s=0.1, uniform=uniform)
    delays = [backoff.delay_s(retry) for retry in range(5)]
    assert delays == pytest.approx([0.02, 0.04, 0.08, 0.1, 0.1])
    assert all(low == 0.0 for low, _ in ceilings)


def test_backoff_honours_the_servers_retry_after_even_when_zero() -> None:
    backoff = Backoff(base_s=0.02, cap_s=0.1, uniform=lambda low, high: pytest.fail("no jitter expected"))
    assert backoff.delay_s(0, retry_after_s=0.0) == 0.0
    assert backoff.delay_s(3, retry_after_s=2.5) == 2.5


def test_a_late_success_from_before_the_trip_does_not_close_an_open_breaker() -> None:
    # Given two calls admitted while closed, and the breaker trips on the first one's failure
    clock, transitions = FakeClock(), list[Transition]()
    subject = breaker(clock, transitions, failure_threshold=1)
    assert subject.allow()
    assert subject.allow()
    subject.record_failure()
    # When the other call, admitted before the trip, then succeeds
    subject.record_success()
    # Then the breaker stays open until its open period ends and a probe succeeds
    assert subject.state is BreakerState.OPEN
    assert not subject.allow()
    assert transitions == [("reviews", BreakerState.CLOSED, BreakerState.OPEN)]


def test_latency_estimate_starts_at_the_first_answer_then_moves_by_its_weight() -> None:
    estimate = LatencyEstimate(weight=0.25)
    assert estimate.mean_ms == 0.0
    estimate.record(80.0)
    assert estimate.mean_ms == 80.0
    estimate.record(40.0)
    assert estimate.mean_ms == 70.0
