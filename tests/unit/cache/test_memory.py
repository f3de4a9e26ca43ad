"""L1: bounded LRU, expiry on read."""

from __future__ import annotations

import pytest

from bff.cache.memory import MemoryStore
from tests.unit.cache.support import FakeClock, entry_at

pytestmark = pytest.mark.anyio


async def test_it_keeps_at_most_max_entries_dropping_the_least_recently_used() -> None:
    # Given a store of two entries holding a and b, where a was read after b was written
    clock = FakeClock()
    store = MemoryStore(max_entries=2, clock=clock)
    await store.put("a", entry_at(clock.now, value="a"))
    await store.put("b", entry_at(clock.now, value="b"))
    assert await store.get("a") is not None
    # When a third entry arrives
    await store.put("c", entry_at(clock.now, value="c"))
    # Then b, the least recently used, is gone and the store is still at its bound
    assert len(store) == 2
    assert "b" not in store
    assert {key for key in ("a", "c") if key in store} == {"a", "c"}


async def test_writing_an_existing_key_replaces_it_and_makes_it_most_recent() -> None:
    clock = FakeClock()
    store = MemoryStore(max_entries=2, clock=clock)
    await store.put("a", entry_at(clock.now, value="old"))
    await store.put("b", entry_at(clock.now))
    await store.put("a", entry_at(clock.now, value="new"))
    await store.put("c", entry_at(clock.now))
    entry = await store.get("a")
    assert entry is not None
    assert entry.value == {"value": "new"}
    assert "b" not in store


async def test_an_entry_past_its_stale_window_is_dropped_when_read() -> None:
    # Given an entry fresh for 60 s and usable stale for 300 s more
    clock = FakeClock()
    store = MemoryStore(max_entries=10, clock=clock)
    await store.put("k", entry_at(clock.now, fresh_s=60, stale_s=300))
    # When read while stale, it is still there; when read after its stale window, it is a miss and removed
    clock.advance(359)
    assert await store.get("k") is not None
    clock.advance(1)
    assert await store.get("k") is None
    assert "k" not in store


async def test_an_already_expired_entry_is_not_stored() -> None:
    clock = FakeClock()
    store = MemoryStore(max_entries=10, clock=clock)
    await store.put("k", entry_at(clock.now - 1000, fresh_s=1, stale_s=1))
    assert len(store) == 0


async def test_size_zero_stores_nothing() -> None:
    clock = FakeClock()
    store = MemoryStore(max_entries=0, clock=clock)
    await store.put("k", entry_at(clock.now))
    assert await store.get("k") is None


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=-1)
