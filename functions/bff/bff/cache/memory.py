"""L1: an in-memory LRU of cache entries per execution environment, bounded by its number of entries."""

from __future__ import annotations

import time
from collections import OrderedDict

from bff.cache.entry import CacheEntry, Clock, is_usable_stale


class MemoryStore:
    """Least recently used entries go first; an entry past its stale window is dropped when read."""

    def __init__(self, max_entries: int, clock: Clock = time.time) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()

    async def get(self, key: str) -> CacheEntry | None:
        return self.get_now(key)

    async def put(self, key: str, entry: CacheEntry) -> None:
        self.put_now(key, entry)

    def get_now(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not is_usable_stale(entry, self._clock()):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put_now(self, key: str, entry: CacheEntry) -> None:
        if self.max_entries == 0 or not is_usable_stale(entry, self._clock()):
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
