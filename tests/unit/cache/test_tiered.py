"""The tiered cache: L1, then L2 (filling L1); writes go to both."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bff.cache.entry import CacheEntry, OnStoreError, StoreErrorKind, ignore_store_error
from bff.cache.memory import MemoryStore
from bff.cache.tiered import Tier, TieredCache
from tests.unit.cache.support import FakeClock, FakeL2, entry_at

pytestmark = pytest.mark.anyio


def tiers(clock: FakeClock) -> tuple[MemoryStore, FakeL2, TieredCache]:
    l1, l2 = MemoryStore(max_entries=10, clock=clock), FakeL2()
    return l1, l2, TieredCache(l1, l2, clock=clock)


async def get(cache: TieredCache, key: str) -> tuple[CacheEntry | None, Tier | None]:
    return (await cache.get_many([key], 1.0)).get(key, (None, None))


async def put(cache: TieredCache, key: str, entry: CacheEntry) -> None:
    await cache.put_many({key: entry}, 1.0)


async def test_a_fresh_l1_entry_answers_without_asking_l2() -> None:
    clock = FakeClock()
    l1, l2, cache = tiers(clock)
    await l1.put("k", entry_at(clock.now))
    entry, tier = await get(cache, "k")
    assert (entry is not None, tier) == (True, "l1")
    assert l2.calls == []


async def test_an_l2_hit_fills_l1_so_the_next_read_stays_local() -> None:
    # Given an entry only in L2 (written by another environment)
    clock = FakeClock()
    _, l2, cache = tiers(clock)
    l2.entries["k"] = entry_at(clock.now)
    # When read twice
    first, first_tier = await get(cache, "k")
    second, second_tier = await get(cache, "k")
    # Then L2 answers once, and L1 the second time with the same entry
    assert (first_tier, second_tier) == ("l2", "l1")
    assert first == second == l2.entries["k"]
    assert l2.calls == [("get", ("k",))]


async def test_a_miss_in_both_tiers_is_none() -> None:
    _, l2, cache = tiers(FakeClock())
    assert await get(cache, "k") == (None, None)
    assert l2.calls == [("get", ("k",))]


async def test_a_stale_l1_entry_gives_way_to_a_fresher_one_in_l2() -> None:
    # Given a stale entry in L1 and a fresh one another environment wrote to L2 since
    clock = FakeClock()
    l1, l2, cache = tiers(clock)
    await l1.put("k", entry_at(clock.now, fresh_s=60, value="old"))
    clock.advance(120)
    l2.entries["k"] = entry_at(clock.now, fresh_s=60, value="new")
    # When read
    entry, tier = await get(cache, "k")
    # Then L2's answer wins and replaces L1's
    assert (tier, entry is not None and entry.value) == ("l2", {"value": "new"})
    assert await get(cache, "k") == (l2.entries["k"], "l1")


async def test_a_stale_l1_entry_is_the_answer_when_l2_has_nothing_newer() -> None:
    clock = FakeClock()
    l1, l2, cache = tiers(clock)
    stale = entry_at(clock.now, fresh_s=60)
    await l1.put("k", stale)
    l2.entries["k"] = stale
    clock.advance(120)
    assert await get(cache, "k") == (stale, "l1")


async def test_an_expired_l2_entry_is_a_miss_and_does_not_fill_l1() -> None:
    clock = FakeClock()
    l1, l2, cache = tiers(clock)
    l2.entries["k"] = entry_at(clock.now - 10_000, fresh_s=1, stale_s=1)
    assert await get(cache, "k") == (None, None)
    assert len(l1) == 0


async def test_a_write_goes_to_both_tiers() -> None:
    clock = FakeClock()
    l1, l2, cache = tiers(clock)
    entry = entry_at(clock.now)
    await put(cache, "k", entry)
    assert await l1.get("k") == entry
    assert l2.entries == {"k": entry}


async def test_without_l2_it_is_an_l1_cache() -> None:
    clock = FakeClock()
    cache = TieredCache(MemoryStore(max_entries=10, clock=clock), None, clock=clock)
    assert await get(cache, "k") == (None, None)
    entry = entry_at(clock.now, fresh_s=60)
    await put(cache, "k", entry)
    assert await get(cache, "k") == (entry, "l1")
    clock.advance(120)
    assert await get(cache, "k") == (entry, "l1")


async def test_l2_is_asked_once_for_every_key_l1_cannot_answer() -> None:
    # Given one key fresh in L1, one only in L2 and one in neither
    clock = FakeClock()
    l1, l2, cache = tiers(clock)
    await l1.put("local", entry_at(clock.now))
    l2.entries["shared"] = entry_at(clock.now)
    # When the three are read together
    found = await cache.get_many(["local", "shared", "absent"], 1.0)
    # Then L2 was asked once, for the two L1 could not answer
    assert l2.calls == [("get", ("shared", "absent"))]
    assert {key: tier for key, (_, tier) in found.items()} == {"local": "l1", "shared": "l2"}


async def test_entries_written_together_are_one_l2_write() -> None:
    clock = FakeClock()
    l1, l2, cache = tiers(clock)
    await cache.put_many({"a": entry_at(clock.now), "b": entry_at(clock.now)}, 1.0)
    assert l2.calls == [("put", ("a", "b"))]
    assert ("a" in l1, "b" in l1) == (True, True)


async def test_reads_that_start_together_are_one_l2_call() -> None:
    # Given three readers starting in the same turn of the event loop (a page's sections)
    clock = FakeClock()
    _, l2, cache = tiers(clock)
    l2.entries["b"] = entry_at(clock.now)
    # When they read at once
    found = await asyncio.gather(*(cache.get_many([key], 1.0) for key in ("a", "b", "c")))
    # Then L2 was asked once for all three keys, and each reader got its own
    assert l2.calls == [("get", ("a", "b", "c"))]
    assert [sorted(each) for each in found] == [[], ["b"], []]
    # And a read that starts later is a call of its own
    await cache.get_many(["d"], 1.0)
    assert l2.calls[1:] == [("get", ("d",))]


class FailingL2(FakeL2):
    """An L2 whose every read times out, reported to the read's `on_error` as a store does."""

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, CacheEntry]:
        self.calls.append(("get", tuple(keys)))
        on_error("timeout")
        return {}


async def test_a_failed_shared_read_is_reported_once_to_each_request_that_waited_for_it() -> None:
    # Given an L2 that times out, and two requests whose sections read in the same turn of the loop: the first
    # request's three sections share its recorder, the second request has one section
    clock = FakeClock()
    l2 = FailingL2()
    cache = TieredCache(MemoryStore(max_entries=10, clock=clock), l2, clock=clock)
    first: list[StoreErrorKind] = []
    second: list[StoreErrorKind] = []
    # When they read together
    await asyncio.gather(
        *(cache.get_many([key], 1.0, first.append) for key in ("product", "reviews", "inventory")),
        cache.get_many(["other"], 1.0, second.append),
    )
    # Then L2 was asked once, and each request heard of its failure once
    assert l2.calls == [("get", ("product", "reviews", "inventory", "other"))]
    assert (first, second) == (["timeout"], ["timeout"])
