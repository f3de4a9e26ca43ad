"""Fakes for the cache's unit tests: a settable clock and an in-memory L2 that records its calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bff.cache.entry import CacheEntry, OnStoreError, ignore_store_error


@dataclass
class FakeClock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeL2:
    """Records each call with its keys: ("get", (k1, k2)) is one round trip for two keys."""

    entries: dict[str, CacheEntry] = field(default_factory=dict)
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, CacheEntry]:
        self.calls.append(("get", tuple(keys)))
        return {key: self.entries[key] for key in keys if key in self.entries}

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        self.calls.append(("put", tuple(entries)))
        self.entries.update(entries)


def entry_at(now: float, *, fresh_s: float = 60, stale_s: float = 300, value: str = "v") -> CacheEntry:
    return CacheEntry.create({"value": value}, status=200, now=now, fresh_s=fresh_s, stale_s=stale_s)
