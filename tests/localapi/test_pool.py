"""Warm worker pools: lazy growth up to a limit, reuse of warm workers, replacement of dead ones."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from localapi.pool import PoolClosedError, WorkerPool, WorkerPools, python_sources_fingerprint
from localapi.worker_process import FunctionSpec, WorkerInitError

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


def test_prewarming_starts_every_worker_of_the_pool_before_any_event() -> None:
    # Given a pool of up to three workers
    starter = FakeStarter()
    pool = WorkerPool(SPEC, starter, max_size=3)

    # When it is prewarmed
    pool.prewarm()

    # Then three workers are warm, and three concurrent events start no more
    assert len(starter.started) == 3
    with ThreadPoolExecutor(3) as executor:
        futures = [executor.submit(pool.invoke, BLOCKING_EVENT) for _ in range(3)]
        threading.Event().wait(0.1)
        starter.gate.set()
        assert all(future.result(WAIT_S) for future in futures)
    assert len(starter.started) == 3


def test_prewarming_reports_a_worker_that_cannot_start() -> None:
    # Given workers that fail to import their handler
    def failing_starter(spec: FunctionSpec) -> FakeWorker:
        raise WorkerInitError(spec.name, '{"errorType": "ConfigurationError", "errorMessage": "X=1 is bad"}')

    pools = WorkerPools(failing_starter, max_size=2)

    # When the pools are prewarmed
    errors = pools.prewarm([SPEC])

    # Then the function's error comes back, in one line naming the setting
    assert [error.one_line() for error in errors] == ["ProductMockFunction: X=1 is bad"]


class ChangingCode:
    def __init__(self) -> None:
        self.version = 1

    def __call__(self, code_dir: str) -> int:
        return self.version


def test_a_code_change_retires_the_warm_workers_and_the_next_event_gets_a_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a warm pool watching its code, checked on every event
    monkeypatch.setattr("localapi.pool.CODE_CHECK_INTERVAL_S", 0.0)
    starter = FakeStarter()
    code = ChangingCode()
    reloaded: list[str] = []
    pool = WorkerPool(SPEC, starter, max_size=1, fingerprint=code, on_reload=reloaded.append)
    assert pool.invoke("{}") == '{"worker": 0, "event": {}}'

    # When the code changes between two events
    code.version = 2
    response = pool.invoke("{}")

    # Then the old worker was stopped, a new one answered, and the reload was announced once
    assert response == '{"worker": 1, "event": {}}'
    assert starter.started[0].stopped
    assert reloaded == ["ProductMockFunction"]
    assert pool.invoke("{}") == '{"worker": 1, "event": {}}'


def test_a_worker_busy_during_a_code_change_is_stopped_when_it_finishes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a pool of two, one worker busy with a slow event
    monkeypatch.setattr("localapi.pool.CODE_CHECK_INTERVAL_S", 0.0)
    starter = FakeStarter()
    code = ChangingCode()
    pool = WorkerPool(SPEC, starter, max_size=2, fingerprint=code)
    with ThreadPoolExecutor(1) as executor:
        slow = executor.submit(pool.invoke, BLOCKING_EVENT)
        threading.Event().wait(0.1)

        # When the code changes and another event arrives while the slow one finishes
        code.version = 2
        threading.Timer(0.2, starter.gate.set).start()
        pool.invoke("{}")
        slow.result(WAIT_S)

    # Then the busy worker was stopped once done, not put back to serve old code, and two fresh ones replace it
    assert starter.started[0].stopped
    assert len(starter.started) == 3
    assert pool.size == 2


def test_the_fingerprint_changes_when_a_python_file_changes(tmp_path: Path) -> None:
    # Given a code directory
    (tmp_path / "pkg").mkdir()
    source = tmp_path / "pkg" / "app.py"
    source.write_text("VERSION = 1\n")
    before = python_sources_fingerprint(str(tmp_path))

    # When a file is edited, and when a non-Python file is added
    (tmp_path / "notes.txt").write_text("x")
    unchanged = python_sources_fingerprint(str(tmp_path))
    source.write_text("VERSION = 22\n")

    # Then only the Python edit counts
    assert unchanged == before
    assert python_sources_fingerprint(str(tmp_path)) != before
