"""Warm worker pools: per function, up to `max_size` workers, all started before the first request.

A pool may watch its function's code: when the fingerprint changes, its workers are retired (busy ones when they
finish) and a fresh pool imports the new code before the event that noticed it is served.
"""

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from localapi.worker_process import FunctionSpec, WorkerInitError

# Code is checked for changes at most this often, so a burst of requests does not rescan the tree each time.
CODE_CHECK_INTERVAL_S = 0.25


class PooledWorker(Protocol):
    @property
    def alive(self) -> bool: ...

    def invoke(self, event_json: str) -> str | None: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...


type WorkerStarter = Callable[[FunctionSpec], PooledWorker]
type Fingerprint = Callable[[str], Hashable]
type ReloadListener = Callable[[str], None]


class PoolClosedError(Exception):
    pass


class WorkerPool:
    """Workers of one function, one event at a time each; dead ones are dropped and replaced on demand."""

    def __init__(
        self,
        spec: FunctionSpec,
        start_worker: WorkerStarter,
        max_size: int,
        fingerprint: Fingerprint | None = None,
        on_reload: ReloadListener | None = None,
    ) -> None:
        self.spec = spec
        self._start_worker = start_worker
        self._max_size = max_size
        self._idle: list[PooledWorker] = []
        self._busy: set[PooledWorker] = set()
        self._retired: set[PooledWorker] = set()
        self._starting = 0
        self._closed = False
        self._changed = threading.Condition()
        self._fingerprint = fingerprint
        self._on_reload = on_reload
        self._code = fingerprint(spec.code_dir) if fingerprint else None
        self._code_checked_at = time.monotonic()
        self._code_lock = threading.Lock()

    @property
    def size(self) -> int:
        with self._changed:
            return len(self._idle) + len(self._busy) + self._starting

    def invoke(self, event_json: str) -> str | None:
        self._reload_if_code_changed()
        worker = self._acquire()
        try:
            return worker.invoke(event_json)
        finally:
            self._release(worker)

    def prewarm(self) -> None:
        """Start every worker of the pool at once, so that no event ever waits for a cold start (a hedged second
        request would otherwise meet one); raises the first WorkerInitError."""
        started: list[PooledWorker] = []
        errors: list[WorkerInitError] = []

        def start_one(_: int) -> None:
            try:
                started.append(self._acquire())
            except WorkerInitError as error:
                errors.append(error)

        _in_parallel(start_one, range(self._max_size))
        for worker in started:
            self._release(worker)
        if errors:
            raise errors[0]

    def _reload_if_code_changed(self) -> None:
        if self._fingerprint is None or time.monotonic() - self._code_checked_at < CODE_CHECK_INTERVAL_S:
            return
        with self._code_lock:
            self._code_checked_at = time.monotonic()
            code = self._fingerprint(self.spec.code_dir)
            if code == self._code:
                return
            self._code = code
        with self._changed:
            idle, self._idle = self._idle, []
            self._retired |= self._busy
        _in_parallel(lambda worker: worker.stop(), idle)
        if self._on_reload is not None:
            self._on_reload(self.spec.name)
        # The whole pool again, so that no request after an edit meets a cold worker either.
        self.prewarm()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            for worker in self._busy:
                worker.kill()
            self._changed.notify_all()
        _in_parallel(lambda worker: worker.stop(), idle)

    def _acquire(self) -> PooledWorker:
        with self._changed:
            while True:
                if self._closed:
                    raise PoolClosedError(self.spec.name)
                if self._idle:
                    worker = self._idle.pop()
                    if not worker.alive:
                        worker.stop()
                        continue
                    self._busy.add(worker)
                    return worker
                if len(self._busy) + self._starting < self._max_size:
                    self._starting += 1
                    break
                self._changed.wait()
        try:
            worker = self._start_worker(self.spec)
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._starting -= 1
            self._busy.add(worker)
            if self._closed:
                worker.kill()
        return worker

    def _release(self, worker: PooledWorker) -> None:
        with self._changed:
            self._busy.discard(worker)
            retired = worker in self._retired
            self._retired.discard(worker)
            if worker.alive and not self._closed and not retired:
                # Last in, first out: the most recently used worker is the warmest.
                self._idle.append(worker)
            self._changed.notify()
        if retired:
            worker.stop()


class WorkerPools:
    """One pool per function, created on the function's first invoke."""

    def __init__(
        self,
        start_worker: WorkerStarter,
        max_size: int,
        fingerprint: Fingerprint | None = None,
        on_reload: ReloadListener | None = None,
    ) -> None:
        self._start_worker = start_worker
        self._max_size = max_size
        self._fingerprint = fingerprint
        self._on_reload = on_reload
        self._pools: dict[str, WorkerPool] = {}
        self._closed = False
        self._lock = threading.Lock()

    def invoke(self, spec: FunctionSpec, event_json: str) -> str | None:
        return self._pool(spec).invoke(event_json)

    def prewarm(self, specs: Iterable[FunctionSpec]) -> list[WorkerInitError]:
        """Every worker of every function, started in parallel; the first failure of each function that fails."""
        errors: list[WorkerInitError] = []

        def prewarm_one(spec: FunctionSpec) -> None:
            try:
                self._pool(spec).prewarm()
            except WorkerInitError as error:
                errors.append(error)

        _in_parallel(prewarm_one, specs)
        return sorted(errors, key=lambda error: error.function_name)

    def _pool(self, spec: FunctionSpec) -> WorkerPool:
        with self._lock:
            if self._closed:
                raise PoolClosedError(spec.name)
            pool = self._pools.get(spec.name)
            if pool is None:
                pool = self._pools[spec.name] = WorkerPool(
                    spec, self._start_worker, self._max_size, self._fingerprint, self._on_reload
                )
            return pool

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
        _in_parallel(lambda pool: pool.close(), pools)


def _in_parallel[T](action: Callable[[T], None], items: Iterable[T]) -> None:
    with ThreadPoolExecutor() as executor:
        list(executor.map(action, items))


def python_sources_fingerprint(code_dir: str) -> frozenset[tuple[str, int, int]]:
    """Path, mtime and size of every .py file under a function's code directory."""
    fingerprint = set()
    for path in Path(code_dir).rglob("*.py"):
        try:
            status = path.stat()
        except OSError:
            continue
        fingerprint.add((str(path), status.st_mtime_ns, status.st_size))
    return frozenset(fingerprint)
