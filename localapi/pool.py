"""Warm worker pools: per function, up to `max_size` workers, started lazily when every warm one is busy."""

import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from localapi.worker_process import FunctionSpec, WorkerInitError


class PooledWorker(Protocol):
    @property
    def alive(self) -> bool: ...

    def invoke(self, event_json: str) -> str | None: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...


type WorkerStarter = Callable[[FunctionSpec], PooledWorker]


class PoolClosedError(Exception):
    pass


class WorkerPool:
    """Workers of one function, one event at a time each; dead ones are dropped and replaced on demand."""

    def __init__(self, spec: FunctionSpec, start_worker: WorkerStarter, max_size: int) -> None:
        self.spec = spec
        self._start_worker = start_worker
        self._max_size = max_size
        self._idle: list[PooledWorker] = []
        self._busy: set[PooledWorker] = set()
        self._starting = 0
        self._closed = False
        self._changed = threading.Condition()

    @property
    def size(self) -> int:
        with self._changed:
            return len(self._idle) + len(self._busy) + self._starting

    def invoke(self, event_json: str) -> str | None:
        worker = self._acquire()
        try:
            return worker.invoke(event_json)
        finally:
            self._release(worker)

    def prewarm(self) -> None:
        """Start one worker before the first event, as `sam local start-api --warm-containers EAGER` does."""
        self._release(self._acquire())

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
            if worker.alive and not self._closed:
                # Last in, first out: the most recently used worker is the warmest.
                self._idle.append(worker)
            self._changed.notify()


class WorkerPools:
    """One pool per function, created on the function's first invoke."""

    def __init__(self, start_worker: WorkerStarter, max_size: int) -> None:
        self._start_worker = start_worker
        self._max_size = max_size
        self._pools: dict[str, WorkerPool] = {}
        self._closed = False
        self._lock = threading.Lock()

    def invoke(self, spec: FunctionSpec, event_json: str) -> str | None:
        return self._pool(spec).invoke(event_json)

    def prewarm(self, specs: Iterable[FunctionSpec]) -> None:
        """One warm worker per function, started in parallel; a function that fails to start is reported."""

        def prewarm_one(spec: FunctionSpec) -> None:
            try:
                self._pool(spec).prewarm()
            except WorkerInitError as error:
                sys.stderr.write(f"{error}; its first request will try again\n")

        _in_parallel(prewarm_one, specs)

    def _pool(self, spec: FunctionSpec) -> WorkerPool:
        with self._lock:
            if self._closed:
                raise PoolClosedError(spec.name)
            pool = self._pools.get(spec.name)
            if pool is None:
                pool = self._pools[spec.name] = WorkerPool(spec, self._start_worker, self._max_size)
            return pool

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
        _in_parallel(lambda pool: pool.close(), pools)


def _in_parallel[T](action: Callable[[T], None], items: Iterable[T]) -> None:
    with ThreadPoolExecutor() as executor:
        list(executor.map(action, items))
