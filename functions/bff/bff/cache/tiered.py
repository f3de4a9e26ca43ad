"""Two tiers behind one interface: L1 in memory, then an optional shared L2 that fills L1 on a hit."""

from __future__ import annotations

import time
from typing import Literal

from bff.cache.entry import CacheEntry, Clock, FragmentStore, is_fresh, is_usable_stale
from bff.cache.memory import MemoryStore

type Tier = Literal["l1", "l2"]


class TieredCache:
    def __init__(self, l1: MemoryStore, l2: FragmentStore | None = None, clock: Clock = time.time) -> None:
        self.l1 = l1
        self.l2 = l2
        self._clock = clock

    async def get(self, key: str) -> tuple[CacheEntry | None, Tier | None]:
        """The entry and the tier that had it. A stale L1 entry still asks L2, which another environment may
        have refreshed, and is the answer only when L2 has nothing newer."""
        local = self.l1.get_now(key)
        if local is not None and is_fresh(local, self._clock()):
            return local, "l1"
        if self.l2 is None:
            return (local, "l1") if local is not None else (None, None)
        shared = await self.l2.get(key)
        newer = shared is not None and (local is None or shared.fresh_until > local.fresh_until)
        if shared is not None and newer and is_usable_stale(shared, self._clock()):
            self.l1.put_now(key, shared)
            return shared, "l2"
        return (local, "l1") if local is not None else (None, None)

    async def put(self, key: str, entry: CacheEntry) -> None:
        """Writes L1, then L2 within the L2 store's own timeout; await it before the response (Lambda freezes
        the environment once the handler returns)."""
        self.l1.put_now(key, entry)
        if self.l2 is not None:
            await self.l2.put(key, entry)
