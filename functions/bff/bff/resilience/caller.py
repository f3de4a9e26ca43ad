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
import itertools
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, is_definitive
from bff.core.sections import Section
from bff.resilience.guard import DownstreamGuard, RetryPolicy

type Attempt = Callable[[Section, str, float, Mapping[str, str], int], Coroutine[Any, Any, Failed | Fetched]]

_MIN_ATTEMPT_S = 0.005


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
        self, section: Section, entity_id: str, deadline: Deadline, headers: Mapping[str, str]
    ) -> Failed | Fetched:
        guard = self._guards[section.service]
        if not guard.breaker.allow():
            return Failed(FailureReason.CIRCUIT_OPEN, 0.0, retry_after_s=guard.breaker.retry_after_s())
        call = _Call(section, entity_id, deadline, headers, guard)
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
        primary = asyncio.create_task(self._one_attempt(call))
        racing = {primary}
        try:
            done, _ = await asyncio.wait(racing, timeout=hedge_delay_s)
            if done:
                return primary.result()
            if call.guard.budget.allows_retry():
                call.guard.budget.spend_on_hedge()
                racing.add(asyncio.create_task(self._one_attempt(call)))
            return await _first_definitive(racing)
        finally:
            await _cancel_all(racing)

    async def _one_attempt(self, call: _Call) -> Failed | Fetched:
        attempt = next(call.attempts)
        timeout_s = call.deadline.cap_s(call.section.timeout_ms)
        if timeout_s < _MIN_ATTEMPT_S:
            return Failed(FailureReason.TIMEOUT, 0.0)
        if call.guard.bulkhead.locked():
            return Failed(FailureReason.BULKHEAD_FULL, 0.0)
        async with call.guard.bulkhead:
            return await self._attempt(call.section, call.entity_id, timeout_s, call.headers, attempt)

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

    def fallback(
        self, section: Section, entity_id: str, failure: Failed, headers: Mapping[str, str]
    ) -> Failed | Fetched:
        """A section the page stopped waiting for stays failed here (the fragment cache may still answer it)."""
        del section, entity_id, headers
        return failure


@dataclass(slots=True)
class _Call:
    section: Section
    entity_id: str
    deadline: Deadline
    headers: Mapping[str, str]
    guard: DownstreamGuard
    attempts: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _first_definitive(racing: set[asyncio.Task[Failed | Fetched]]) -> Failed | Fetched:
    pending = set(racing)
    last: Failed | Fetched | None = None
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            last = task.result()
            if is_definitive(last):
                return last
    assert last is not None
    return last


async def _cancel_all(tasks: set[asyncio.Task[Failed | Fetched]]) -> None:
    unfinished = [task for task in tasks if not task.done()]
    for task in unfinished:
        task.cancel()
    if unfinished:
        await asyncio.wait(unfinished)
