"""Two tiers behind one interface: L1 in memory, then an optional shared L2 that fills L1 on a hit."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Literal

from bff.cache.entry import CacheEntry, Clock, FragmentStore, is_fresh, is_usable_stale
from bff.cache.memory import MemoryStore

type Tier = Literal["l1", "l2"]
type Found = dict[str, tuple[CacheEntry, Tier]]


class TieredCache:
    def __init__(self, l1: MemoryStore, l2: FragmentStore | None = None, clock: Clock = time.time) -> None:
        self.l1 = l1
        self.l2 = l2
        self._clock = clock

    async def get_many(self, keys: Sequence[str], within_s: float) -> Found:
        """Each key's entry and the tier that had it (a key neither has is left out). L2 is asked once, for every
        key without a fresh L1 entry, within `within_s`. A stale L1 entry still asks L2, which another
        environment may have refreshed, and is the answer only when L2 has nothing newer."""
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
        shared = await self.l2.get_many(asked, within_s) if self.l2 is not None and asked else {}
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

    async def put_many(self, entries: Mapping[str, CacheEntry], within_s: float) -> None:
        """Writes L1, then L2 in one batched write within `within_s`; await it before the response (Lambda
        freezes the environment once the handler returns)."""
        for key, entry in entries.items():
            self.l1.put_now(key, entry)
        if self.l2 is not None and entries:
            await self.l2.put_many(entries, within_s)
