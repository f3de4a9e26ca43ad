"""Resilient downstream writes: the breaker and bulkhead of reads, retries only when the write is idempotent.

A POST is retried only when it carries an Idempotency-Key (the service then applies it at most once), only on a
refused or reset connection or a 503 (the outcome's `retryable`, set by the client for writes), within the
attempts, the retry budget and the deadline. Without a key a write is sent once, whatever happens. Never hedged,
never answered from a remembered value.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, is_definitive
from bff.core.sections import Section
from bff.resilience.guard import DownstreamGuard, RetryPolicy

type WriteAttempt = Callable[[Section, str, bytes, float, RequestContext, int], Coroutine[Any, Any, Failed | Fetched]]

IDEMPOTENCY_KEY_HEADER = "idempotency-key"
_MIN_ATTEMPT_S = 0.005


class WriteCaller:
    def __init__(self, attempt: WriteAttempt, guards: Mapping[str, DownstreamGuard], retry_policy: RetryPolicy) -> None:
        self._attempt = attempt
        self._guards = guards
        self._retry_policy = retry_policy

    async def write(
        self, section: Section, entity_id: str, body: bytes, deadline: Deadline, context: RequestContext
    ) -> Failed | Fetched:
        guard = self._guards[section.service]
        if not guard.breaker.allow():
            return Failed(FailureReason.CIRCUIT_OPEN, 0.0, retry_after_s=guard.breaker.retry_after_s())
        may_retry = bool(context.headers.get(IDEMPOTENCY_KEY_HEADER))
        attempts = itertools.count(1)
        retry = 0
        while True:
            outcome = await self._one_attempt(
                section, entity_id, body, deadline, context=context, guard=guard, attempt=next(attempts)
            )
            _record(guard, outcome)
            if not (may_retry and isinstance(outcome, Failed) and outcome.retryable):
                return outcome
            guard.budget.record_failure()
            delay_s = self._retry_policy.backoff.delay_s(retry, outcome.retry_after_s)
            retry += 1
            if (
                retry >= self._retry_policy.max_attempts
                or not guard.budget.allows_retry()
                or delay_s + _MIN_ATTEMPT_S >= deadline.remaining_s()
            ):
                return outcome
            await asyncio.sleep(delay_s)

    async def _one_attempt(
        self,
        section: Section,
        entity_id: str,
        body: bytes,
        deadline: Deadline,
        *,
        context: RequestContext,
        guard: DownstreamGuard,
        attempt: int,
    ) -> Failed | Fetched:
        timeout_s = deadline.cap_s(section.timeout_ms)
        if timeout_s < _MIN_ATTEMPT_S:
            return Failed(FailureReason.TIMEOUT, 0.0)
        if guard.bulkhead.locked():
            return Failed(FailureReason.BULKHEAD_FULL, 0.0)
        async with guard.bulkhead:
            return await self._attempt(section, entity_id, body, timeout_s, context, attempt)


def _record(guard: DownstreamGuard, outcome: Failed | Fetched) -> None:
    if is_definitive(outcome):
        guard.breaker.record_success()
        guard.budget.record_success()
    elif isinstance(outcome, Failed) and outcome.reason.blames_the_service:
        guard.breaker.record_failure()
    else:
        guard.breaker.record_abandoned()
