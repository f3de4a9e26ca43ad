"""The write caller: a POST is retried only with an Idempotency-Key, only on refused/reset and 503."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from pydantic import TypeAdapter

from bff.composition import guard_for
from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched
from bff.core.sections import Section
from bff.resilience.backoff import Backoff
from bff.resilience.guard import RetryPolicy
from bff.resilience.writes import WriteCaller
from tests.support.context import NO_CONTEXT, request_context
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio

SECTION = Section("cart", "cart", "/carts/{id}/items", 400, TypeAdapter(object), critical=True)
REFUSED = Failed(FailureReason.UNAVAILABLE, 1.0, retryable=True)  # what the client reports for refused/reset/503
NOT_RETRYABLE = Failed(FailureReason.UNAVAILABLE, 1.0, retryable=False)  # a 502, 504 or 429 to a write


KEYED = request_context({"idempotency-key": "k1"})


class ScriptedWrites:
    def __init__(self, *outcomes: Failed | Fetched) -> None:
        self.outcomes = list(outcomes)
        self.headers: list[Mapping[str, str]] = []

    async def __call__(
        self, section: Section, entity_id: str, body: bytes, timeout_s: float, context: RequestContext, attempt: int
    ) -> Failed | Fetched:
        await asyncio.sleep(0)
        self.headers.append(context.headers)
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


def caller(writes: ScriptedWrites) -> WriteCaller:
    return WriteCaller(writes, {"cart": guard_for("cart", settings_for())}, RetryPolicy(3, Backoff(0.001, 0.002)))


async def test_a_keyless_post_is_never_retried() -> None:
    writes = ScriptedWrites(REFUSED)
    outcome = await caller(writes).write(SECTION, "alice", b"{}", Deadline.after_ms(1_000), NO_CONTEXT)
    assert outcome == REFUSED
    assert len(writes.headers) == 1


async def test_a_keyed_post_is_retried_on_refused_or_503_until_it_lands() -> None:
    landed = Fetched({"userId": "alice", "items": []}, 1.0)
    writes = ScriptedWrites(REFUSED, REFUSED, landed)
    outcome = await caller(writes).write(SECTION, "alice", b"{}", Deadline.after_ms(1_000), KEYED)
    assert outcome == landed
    assert [headers["idempotency-key"] for headers in writes.headers] == ["k1", "k1", "k1"]


async def test_a_keyed_post_is_not_retried_when_the_write_may_have_happened() -> None:
    writes = ScriptedWrites(NOT_RETRYABLE)
    await caller(writes).write(SECTION, "alice", b"{}", Deadline.after_ms(1_000), KEYED)
    assert len(writes.headers) == 1


async def test_a_keyed_post_is_not_retried_past_the_deadline() -> None:
    # Given a 503 whose Retry-After (1 s) is past the 100 ms left
    writes = ScriptedWrites(Failed(FailureReason.UNAVAILABLE, 1.0, retryable=True, retry_after_s=1.0))
    await caller(writes).write(SECTION, "alice", b"{}", Deadline.after_ms(100), KEYED)
    assert len(writes.headers) == 1
