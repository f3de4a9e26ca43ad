"""Warm worker pools: lazy growth up to a limit, reuse of warm workers, replacement of dead ones."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from localapi.pool import PoolClosedError, WorkerPool
from localapi.worker_process import FunctionSpec

SPEC = FunctionSpec(
    name="ProductMockFunction",
    handler="product_service.lambda_handler",
    code_dir="/nonexistent",
    memory_mb=256,
    timeout_s=10,
    environment={},
)
WAIT_S = 5


BLOCKING_EVENT = '"wait for the gate"'


class FakeWorker:
    def __init__(self, number: int, gate: threading.Event) -> None:
        self.number = number
        self.alive = True
        self.stopped = False
        self.killed = False
        self._gate = gate

    def invoke(self, event_json: str) -> str | None:
        if event_json == BLOCKING_EVENT:
            assert self._gate.wait(WAIT_S)
        return f'{{"worker": {self.number}, "event": {event_json}}}'

    def stop(self) -> None:
        self.stopped = True

    def kill(self) -> None:
        self.killed = True


class FakeStarter:
    def __init__(self) -> None:
        self.started: list[FakeWorker] = []
        self.gate = threading.Event()

    def __call__(self, spec: FunctionSpec) -> FakeWorker:
        worker = FakeWorker(len(self.started), self.gate)
        self.started.append(worker)
        return worker


def test_sequential_invokes_reuse_one_warm_worker() -> None:
    # Given a pool of up to four workers
    starter = FakeStarter()
    pool = WorkerPool(SPEC, starter, max_size=4)

    # When three events arrive one after another
    responses = [pool.invoke(f"{n}") for n in range(3)]

    # Then one worker, started once, answered all of them
    assert responses == [f'{{"worker": 0, "event": {n}}}' for n in range(3)]
    assert len(starter.started) == 1


def test_concurrent_invokes_grow_the_pool_up_to_its_limit_and_then_wait() -> None:
    # Given a pool of at most two workers
    starter = FakeStarter()
    pool = WorkerPool(SPEC, starter, max_size=2)

    with ThreadPoolExecutor(3) as executor:
        # When three slow events arrive at once
        futures = [executor.submit(pool.invoke, BLOCKING_EVENT) for _ in range(3)]
        threading.Event().wait(0.2)

        # Then two workers were started and the third event waits for one of them
        assert len(starter.started) == 2
        assert [future.done() for future in futures] == [False] * 3
        starter.gate.set()
        assert all(future.result(WAIT_S) for future in futures)

    assert len(starter.started) == 2


def test_a_dead_worker_is_dropped_and_the_next_event_gets_a_fresh_one() -> None:
    # Given a pool whose only worker died while idle
    starter = FakeStarter()
    pool = WorkerPool(SPEC, starter, max_size=1)
    pool.invoke("{}")
    starter.started[0].alive = False

    # When the next event arrives
    response = pool.invoke("{}")

    # Then a new worker answers it, and the dead one was cleaned up
    assert response == '{"worker": 1, "event": {}}'
    assert starter.started[0].stopped
    assert pool.size == 1


def test_a_worker_that_fails_to_start_frees_its_slot() -> None:
    # Given a pool of one whose first start fails
    attempts: list[int] = []

    def flaky_starter(spec: FunctionSpec) -> FakeWorker:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("import failed")
        return FakeWorker(len(attempts), threading.Event())

    pool = WorkerPool(SPEC, flaky_starter, max_size=1)
    with pytest.raises(RuntimeError):
        pool.invoke("{}")

    # When another event arrives
    # Then it is not blocked by the failed start
    assert pool.invoke("{}") == '{"worker": 2, "event": {}}'


def test_closing_stops_idle_workers_kills_busy_ones_and_refuses_new_events() -> None:
    # Given one worker busy with a slow event and one idle
    starter = FakeStarter()
    pool = WorkerPool(SPEC, starter, max_size=2)
    with ThreadPoolExecutor(1) as executor:
        slow = executor.submit(pool.invoke, BLOCKING_EVENT)
        threading.Event().wait(0.1)
        pool.invoke("{}")
        busy, idle = starter.started

        # When the pool is closed
        pool.close()
        starter.gate.set()
        slow.result(WAIT_S)

    # Then the idle worker was asked to stop, the busy one killed, and new events are refused
    assert (idle.stopped, idle.killed) == (True, False)
    assert (busy.stopped, busy.killed) == (False, True)
    with pytest.raises(PoolClosedError):
        pool.invoke("{}")
