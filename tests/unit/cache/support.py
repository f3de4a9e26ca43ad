"""Fakes for the cache's unit tests: a settable clock and an in-memory L2 that records its calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from bff.cache.entry import CacheEntry


@dataclass
class FakeClock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeL2:
    entries: dict[str, CacheEntry] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def get(self, key: str) -> CacheEntry | None:
        self.calls.append(("get", key))
        return self.entries.get(key)

    async def put(self, key: str, entry: CacheEntry) -> None:
        self.calls.append(("put", key))
        self.entries[key] = entry


def entry_at(now: float, *, fresh_s: float = 60, stale_s: float = 300, value: str = "v") -> CacheEntry:
    return CacheEntry.create({"value": value}, status=200, now=now, fresh_s=fresh_s, stale_s=stale_s)
