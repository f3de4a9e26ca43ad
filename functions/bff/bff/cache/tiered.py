"""Two tiers behind one interface: L1 in memory, then an optional shared L2 that fills L1 on a hit.

Reads of L2 that start in the same turn of the event loop are one L2 call: a page's sections start together, so a
page asks L2 once for all its sections' keys, and a batch once for all its sections' ids (one round trip per chunk
of keys). The call is bounded by the tightest of the readers' time limits, each of which ends inside its request's
deadline, so it never outlives a response. A failure of that call is reported to every reader's `on_error`: each
of their requests had a miss because of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bff.cache.entry import (
    CacheEntry,
    Clock,
    FragmentStore,
    OnStoreError,
    StoreErrorKind,
    ignore_store_error,
    is_fresh,
    is_usable_stale,
)
from bff.cache.memory import MemoryStore

type Tier = Literal["l1", "l2"]
type Found = dict[str, tuple[CacheEntry, Tier]]


@dataclass
class _SharedRead:
    """The L2 keys asked for in one turn of the event loop, and the one answer they all wait for."""

    within_s: float
    answer: asyncio.Future[dict[str, CacheEntry]]
    keys: dict[str, None] = field(default_factory=dict)
    listeners: list[OnStoreError] = field(default_factory=list)
    """Each distinct `on_error` of the readers (the sections of one request share theirs)."""

    def report(self, kind: StoreErrorKind) -> None:
        for on_error in self.listeners:
            on_error(kind)


class TieredCache:
    def __init__(self, l1: MemoryStore, l2: FragmentStore | None = None, clock: Clock = time.time) -> None:
        self.l1 = l1
        self.l2 = l2
        self._clock = clock
        self._pending: _SharedRead | None = None
        self._reading: set[asyncio.Task[dict[str, CacheEntry]]] = set()

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> Found:
        """Each key's entry and the tier that had it (a key neither has is left out). L2 is asked once, for every
        key without a fresh L1 entry, within `within_s`. A stale L1 entry still asks L2, which another
        environment may have refreshed, and is the answer only when L2 has nothing newer. `on_error` hears of a
        failed L2 read."""
        found: Found = {}
        now = self._clock()
        local_stale: dict[str, CacheEntry] = {}
        for key in keys:
            local = self.l1.get_now(key)
            if local is not None and is_fresh(local, now):
                found[key] = (local, "l1")
            elif local is not None:
                local_stale[key] = local
        asked = [key for key in dict.fromkeys(keys) if key not in found]
        shared = await self._read_l2(asked, within_s, on_error) if asked else {}
        now = self._clock()
        for key in asked:
            local, remote = local_stale.get(key), shared.get(key)
            newer = remote is not None and (local is None or remote.fresh_until > local.fresh_until)
            if remote is not None and newer and is_usable_stale(remote, now):
                self.l1.put_now(key, remote)
                found[key] = (remote, "l2")
            elif local is not None:
                found[key] = (local, "l1")
        return found

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        """Writes L1, then L2 in one batched write within `within_s`; await it before the response (Lambda
        freezes the environment once the handler returns)."""
        for key, entry in entries.items():
            self.l1.put_now(key, entry)
        if self.l2 is not None and entries:
            await self.l2.put_many(entries, within_s, on_error)

    async def _read_l2(self, keys: list[str], within_s: float, on_error: OnStoreError) -> dict[str, CacheEntry]:
        """The L2 entries among `keys`, read together with every other read that starts in this turn of the loop."""
        if self.l2 is None:
            return {}
        read = self._pending
        if read is None:
            loop = asyncio.get_running_loop()
            read = self._pending = _SharedRead(within_s, loop.create_future())
            loop.call_soon(self._start_read, read)
        read.keys.update(dict.fromkeys(keys))
        read.within_s = min(read.within_s, within_s)
        if on_error not in read.listeners:  # a request's sections share one recorder: one report each
            read.listeners.append(on_error)
        # A reader that gives up (its page's deadline) leaves the call to the others; the call ends within the
        # tightest limit anyway.
        found = await asyncio.shield(read.answer)
        return {key: found[key] for key in keys if key in found}

    def _start_read(self, read: _SharedRead) -> None:
        self._pending = None
        if self.l2 is None:
            read.answer.set_result({})
            return
        task = asyncio.get_running_loop().create_task(self.l2.get_many(list(read.keys), read.within_s, read.report))
        self._reading.add(task)
        task.add_done_callback(lambda done: self._finish_read(read, done))

    def _finish_read(self, read: _SharedRead, task: asyncio.Task[dict[str, CacheEntry]]) -> None:
        self._reading.discard(task)
        failed = task.cancelled() or task.exception() is not None  # a store never raises; this is a safeguard
        if not read.answer.done():
            read.answer.set_result({} if failed else task.result())
