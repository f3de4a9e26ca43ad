"""IdempotentWrites keeps Powertools' blocking calls off the event loop and runs the write on the loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bff.composition import build_idempotent_writes
from bff.core.deadline import Deadline
from bff.resilience.backoff import Backoff
from bff.resilience.guard import RetryPolicy
from bff.writes.idempotency import IdempotentWrites, WriteAnswer
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio

BLOCKING_S = 0.3


def writes_on(table: str) -> IdempotentWrites:
    writes = build_idempotent_writes(settings_for(idempotency_table_name=table), RetryPolicy(3, Backoff(0.001, 0.002)))
    assert writes is not None
    return writes


async def test_blocking_store_calls_leave_the_loop_free_and_the_write_runs_on_the_loop() -> None:
    # Given an idempotency store whose calls block for 300 ms (as boto3 does on a slow DynamoDB)
    writes = writes_on("table")

    def blocking_idempotent(request: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        time.sleep(BLOCKING_S)
        answer = run()
        time.sleep(BLOCKING_S)
        return answer

    writes._idempotent = blocking_idempotent  # Powertools stands aside; its threading is what is under test
    loop_thread = threading.get_ident()
    write_threads: list[int] = []

    async def write() -> dict[str, Any]:
        write_threads.append(threading.get_ident())
        return {"status": 201, "body": '{"items":[]}'}

    ticks = 0

    async def other_work() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    # When a write runs while other work shares the loop
    ticker = asyncio.create_task(other_work())
    answer = await writes.run(
        user="alice", key="k", body={}, write=write, lambda_context=None, deadline=Deadline.after_ms(1_000)
    )
    ticker.cancel()
    # Then the other work kept running through both blocking calls, and the write ran on the loop's own thread
    assert ticks >= 30
    assert write_threads == [loop_thread]
    assert answer == WriteAnswer(201, '{"items":[]}', replayed=False)
