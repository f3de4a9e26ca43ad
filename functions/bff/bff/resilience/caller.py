"""Resilient downstream calls: breaker, retries with backoff inside the deadline, hedging.

One call of a section, in order:
1. An open breaker fails fast (circuit_open).
2. Each attempt takes a bulkhead slot and is cut to the time left; a hedge starts after the hedge delay when
   the retry budget allows, and the first definitive answer wins while the other is cancelled.
3. A retryable failure (refused, reset, 429, 502, 503, 504) is retried after full-jitter backoff or the
   server's Retry-After, while attempts, budget and deadline allow. Only GETs come through here.
4. The outcome feeds the breaker and the budget. Answering a failure from a stale copy is the fragment cache's
   part (bff.resilience.caching), around this caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, is_definitive
from bff.core.sections import Section
from bff.resilience.guard import DownstreamGuard, RetryPolicy

type Attempt = Callable[[Section, str, float, RequestContext, int], Coroutine[Any, Any, Failed | Fetched]]

_MIN_ATTEMPT_S = 0.005
# Set only in a hedge's own task (its context is a copy), so the attempt's span says it is the hedge.
_hedging: contextvars.ContextVar[bool] = contextvars.ContextVar("bff_hedging", default=False)


def is_hedge() -> bool:
    """Whether the attempt running in this task is a hedge (an extra attempt raced against a slow first one)."""
    return _hedging.get()


class ResilientCaller:
    def __init__(
        self,
        attempt: Attempt,
        guards: Mapping[str, DownstreamGuard],
        retry_policy: RetryPolicy,
    ) -> None:
        self._attempt = attempt
        self._guards = guards
        self._retry_policy = retry_policy

    async def fetch(
        self, section: Section, entity_id: str, deadline: Deadline, context: RequestContext
    ) -> Failed | Fetched:
        guard = self._guards[section.service]
        if not guard.breaker.allow():
            return Failed(FailureReason.CIRCUIT_OPEN, 0.0, retry_after_s=guard.breaker.retry_after_s())
        call = _Call(section, entity_id, deadline, context, guard)
        started = time.perf_counter()
        try:
            outcome = await self._with_retries(call)
        except asyncio.CancelledError:
            if deadline.expired():
                guard.latency.record(_elapsed_ms(started))
            self._record_cancellation(guard, deadline)
            raise
        self._record(guard, outcome)
        # What the page waited for, retries and hedges included; a timeout counts, a quick refusal does not.
        if isinstance(outcome, Fetched) or outcome.reason is FailureReason.TIMEOUT:
            guard.latency.record(_elapsed_ms(started))
        return outcome

    def slowest_first(self, sections: Sequence[Section]) -> list[Section]:
        """Sections by the usual answer time of their service, slowest first (ties keep their order): the page
        waits for the slowest call, so its request should leave before the others are built."""
        return sorted(sections, key=lambda section: self._guards[section.service].latency.mean_ms, reverse=True)

    async def _with_retries(self, call: _Call) -> Failed | Fetched:
        retry = 0
        while True:
            outcome = await self._hedged(call)
            if not isinstance(outcome, Failed) or not outcome.retryable:
                return outcome
            call.guard.budget.record_failure()
            delay_s = self._retry_policy.backoff.delay_s(retry, outcome.retry_after_s)
            retry += 1
            if (
                retry >= self._retry_policy.max_attempts
                or not call.guard.budget.allows_retry()
                or delay_s + _MIN_ATTEMPT_S >= call.deadline.remaining_s()
            ):
                return outcome
            await asyncio.sleep(delay_s)

    async def _hedged(self, call: _Call) -> Failed | Fetched:
        hedge_delay_s = call.guard.hedge_delay_s
        if hedge_delay_s is None or hedge_delay_s >= call.deadline.remaining_s():
            return await self._one_attempt(call)
        return await _HedgedCall(self._one_attempt, call).run(hedge_delay_s)

    async def _one_attempt(self, call: _Call) -> Failed | Fetched:
        attempt = next(call.attempts)
        timeout_s = call.deadline.cap_s(call.section.timeout_ms)
        if timeout_s < _MIN_ATTEMPT_S:
            return Failed(FailureReason.TIMEOUT, 0.0)
        if call.guard.bulkhead.locked():
            return Failed(FailureReason.BULKHEAD_FULL, 0.0)
        async with call.guard.bulkhead:
            return await self._attempt(call.section, call.entity_id, timeout_s, call.context, attempt)

    def _record(self, guard: DownstreamGuard, outcome: Failed | Fetched) -> None:
        if is_definitive(outcome):  # a 404 is a healthy service's answer too
            guard.breaker.record_success()
            guard.budget.record_success()
        elif isinstance(outcome, Failed) and outcome.reason.blames_the_service:
            guard.breaker.record_failure()
            if not outcome.retryable:
                guard.budget.record_failure()
        else:
            guard.breaker.record_abandoned()

    @staticmethod
    def _record_cancellation(guard: DownstreamGuard, deadline: Deadline) -> None:
        if deadline.expired():
            guard.breaker.record_failure()
        else:
            guard.breaker.record_abandoned()


@dataclass(slots=True)
class _Call:
    section: Section
    entity_id: str
    deadline: Deadline
    context: RequestContext
    guard: DownstreamGuard
    attempts: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class _HedgedCall:
    """One attempt raced against a hedge sent after the hedge delay, when the budget allows one.

    The first attempt runs in the caller's own task, with no task of its own: most calls answer before the delay,
    and then the race costs one timer. The hedge runs in a task. The first definitive answer wins and the other
    attempt is cancelled; when neither is definitive, the one that ended last is the answer. A definitive hedge
    interrupts the first attempt by cancelling the caller's task, as asyncio.timeout does, and tells that
    cancellation apart from one that comes from outside (the page's deadline), which goes on as it came."""

    def __init__(self, attempt: Callable[[_Call], Coroutine[Any, Any, Failed | Fetched]], call: _Call) -> None:
        task = asyncio.current_task()
        assert task is not None, "a call runs in a task"
        self._task = task
        self._attempt = attempt
        self._call = call
        self._hedge: asyncio.Task[Failed | Fetched] | None = None
        self._hedge_won: Failed | Fetched | None = None
        self._settled = False

    async def run(self, hedge_delay_s: float) -> Failed | Fetched:
        timer = asyncio.get_running_loop().call_later(hedge_delay_s, self._send_hedge)
        try:
            try:
                first = await self._attempt(self._call)
            except asyncio.CancelledError:
                if self._hedge_won is not None and self._task.uncancel() == 0:
                    return self._hedge_won
                raise
            except Exception:
                if self._hedge_won is None:
                    raise
                self._task.uncancel()  # the attempt turned the hedge's cancellation into an error of its own
                return self._hedge_won
            self._settled = True
            if self._hedge_won is not None:  # the first attempt ended although the hedge had cancelled it
                self._task.uncancel()
                return self._hedge_won
            return await self._answer_after(first)
        finally:
            self._settled = True
            timer.cancel()
            await self._stop_hedge()

    async def _answer_after(self, first: Failed | Fetched) -> Failed | Fetched:
        """The first attempt ended: its answer if definitive or unhedged; else the hedge's if it is definitive (its
        callback may not have run yet), or if it is still out, then whichever it answers (it ends last)."""
        hedge = self._hedge
        if is_definitive(first) or hedge is None:
            return first
        if not hedge.done():
            return await hedge
        ended_well = not hedge.cancelled() and hedge.exception() is None
        return hedge.result() if ended_well and is_definitive(hedge.result()) else first

    def _send_hedge(self) -> None:
        budget = self._call.guard.budget
        if self._settled or not budget.allows_retry():
            return
        budget.spend_on_hedge()
        context = contextvars.copy_context()
        context.run(_hedging.set, True)
        self._hedge = asyncio.get_running_loop().create_task(self._attempt(self._call), context=context)
        self._hedge.add_done_callback(self._hedge_ended)

    def _hedge_ended(self, hedge: asyncio.Task[Failed | Fetched]) -> None:
        if self._settled or hedge.cancelled() or hedge.exception() is not None:
            return
        if is_definitive(outcome := hedge.result()):
            self._hedge_won = outcome
            self._task.cancel()

    async def _stop_hedge(self) -> None:
        hedge = self._hedge
        if hedge is None:
            return
        if not hedge.done():
            hedge.cancel()
            await asyncio.wait((hedge,))
        if not hedge.cancelled():
            hedge.exception()  # retrieved: an error of a hedge nobody waited for is not "never retrieved"
