"""The fragment cache on the read path: each section's downstream answer, kept per service and id.

The key holds only what changes a service's answer. No header of the caller's is part of it: the services' answers
do not depend on the caller's language (the BFF sends none downstream), and what does (a price as a locale writes
it) is rendered after the cache, from the negotiated locale (bff.core.shaping). A caller who varies its headers
therefore neither bypasses the cache nor fills it.

One section, in order:
1. A service whose TTL is 0 (the cart) is never cached: the live call alone answers.
2. The tiered cache is read (L1, then L2 within its own tight timeout, never past the page's deadline). A fresh
   200 entry answers ("hit"), a fresh 404 entry answers not found (negative caching).
3. Otherwise the live call answers ("miss"). A good answer is stored for the service's TTL, shortened by the
   downstream's Cache-Control as a private cache would (RFC 9111), and then kept STALE_TTL_S longer for
   stale-if-error; a 404 is stored for the negative TTL. The write is awaited inside the page's deadline:
   Lambda freezes the environment once the handler returns, so nothing may run after the response.
4. A failed live call (an open breaker, or the page's deadline cutting the call) is answered from an entry past
   its freshness but inside its stale window ("stale"), exactly as the old last-known-good store did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from bff.cache.entry import CacheEntry, Clock, age_s, cache_key, freshness_s, is_fresh, is_usable_stale, may_serve_stale
from bff.cache.tiered import Tier, TieredCache
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, SectionOutcome, Stale
from bff.core.sections import Section
from bff.resilience.caller import ResilientCaller

type OnLookup = Callable[[str, Tier | None], None]
"""Counts one section's cache lookup: the section's name and the tier that had a fresh entry (None: a miss)."""


def _ignore_lookup(section: str, tier: Tier | None) -> None:
    del section, tier


@dataclass(frozen=True, slots=True)
class CachePolicy:
    ttl_s: Mapping[str, float]
    """Freshness ceiling by service; 0 (or absent) turns caching off for it."""
    stale_s: float
    """How long past its freshness an entry may still answer a failed call."""
    negative_ttl_s: float
    """How long a not-found answer is kept (never longer than the service's TTL)."""
    write_timeout_s: float
    """The most an L2 write may take, within what is left of the page's deadline."""


class CachingSource:
    """A SectionSource: the resilient caller behind the fragment cache."""

    def __init__(
        self,
        inner: ResilientCaller,
        cache: TieredCache,
        policy: CachePolicy,
        *,
        on_lookup: OnLookup = _ignore_lookup,
        clock: Clock = time.time,
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._policy = policy
        self._on_lookup = on_lookup
        self._clock = clock

    async def fetch(
        self, section: Section, entity_id: str, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome:
        ttl_s = self._ttl_s(section)
        if ttl_s <= 0:
            return _uncached(await self._inner.fetch(section, entity_id, deadline, headers))
        key = _key(section, entity_id)
        hit = await self._lookup_key(section, key, deadline)
        if hit is not None:
            return hit
        live = await self._inner.fetch(section, entity_id, deadline, headers)
        return await self._settle_key(key, live, ttl_s, deadline)

    async def lookup(
        self, section: Section, entity_id: str, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome | None:
        """A fresh entry's answer (a 404 entry answers not found), or None: the live call must answer. A batch
        asks this per id, and sends only the misses downstream."""
        if self._ttl_s(section) <= 0:
            return None
        return await self._lookup_key(section, _key(section, entity_id), deadline)

    async def settle(
        self, section: Section, entity_id: str, live: Failed | Fetched, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome:
        """The live answer after a miss: a good one or a not-found is stored, a failure is answered stale when an
        entry (L1 holds any usable one L2 gave) is inside its stale window."""
        ttl_s = self._ttl_s(section)
        if ttl_s <= 0:
            return _uncached(live)
        return await self._settle_key(_key(section, entity_id), live, ttl_s, deadline)

    async def _lookup_key(self, section: Section, key: str, deadline: Deadline) -> SectionOutcome | None:
        started = time.perf_counter()
        entry, tier = await self._lookup(key, deadline)
        now = self._clock()
        if entry is not None and is_fresh(entry, now):
            self._on_lookup(section.name, tier)
            return _from_fresh_entry(entry, now, _elapsed_ms(started))
        self._on_lookup(section.name, None)
        return None

    async def _settle_key(self, key: str, live: Failed | Fetched, ttl_s: float, deadline: Deadline) -> SectionOutcome:
        if isinstance(live, Fetched):
            return await self._store_answer(key, live, ttl_s, deadline)
        if live.reason is FailureReason.NOT_FOUND:
            await self._store_not_found(key, ttl_s, deadline)
            return replace(live, cache="miss")
        return self._stale_or(self._cache.l1.get_now(key), live)

    def fallback(self, section: Section, entity_id: str, failure: Failed, headers: Mapping[str, str]) -> SectionOutcome:
        """A section the page stopped waiting for: answered from L1 (synchronously) when it has the id."""
        if failure.reason is FailureReason.NOT_FOUND or self._ttl_s(section) <= 0:
            return failure
        entry = self._cache.l1.get_now(_key(section, entity_id))
        now = self._clock()
        if entry is not None and is_fresh(entry, now):
            return _from_fresh_entry(entry, now, failure.duration_ms)
        return self._stale_or(entry, failure)

    def slowest_first(self, sections: Sequence[Section]) -> list[Section]:
        return self._inner.slowest_first(sections)

    def _ttl_s(self, section: Section) -> float:
        return self._policy.ttl_s.get(section.service, 0.0)

    async def _lookup(self, key: str, deadline: Deadline) -> tuple[CacheEntry | None, Tier | None]:
        if self._cache.l2 is None:  # memory alone: nothing to wait for, so no timer to arm
            return await self._cache.get(key)
        remaining_s = deadline.remaining_s()
        if remaining_s > 0:
            try:
                async with asyncio.timeout(remaining_s):
                    return await self._cache.get(key)
            except TimeoutError:  # the page's deadline, not the store's: L1 alone answers
                pass
        local = self._cache.l1.get_now(key)
        return (local, "l1") if local is not None else (None, None)

    async def _store_answer(self, key: str, live: Fetched, ttl_s: float, deadline: Deadline) -> Fetched:
        fresh_s = freshness_s(ttl_s, live.cache_control)
        if fresh_s is None:  # no-store: the page may not be kept either
            return replace(live, cache="miss", fresh_for_s=0.0)
        stale_s = self._policy.stale_s if may_serve_stale(live.cache_control) else 0.0
        entry = CacheEntry.create(live.value, status=200, now=self._clock(), fresh_s=fresh_s, stale_s=stale_s)
        await self._put(key, entry, deadline)
        return replace(live, cache="miss", fresh_for_s=fresh_s)

    async def _store_not_found(self, key: str, ttl_s: float, deadline: Deadline) -> None:
        fresh_s = min(ttl_s, self._policy.negative_ttl_s)
        if fresh_s > 0:
            entry = CacheEntry.create(None, status=404, now=self._clock(), fresh_s=fresh_s, stale_s=0.0)
            await self._put(key, entry, deadline)

    async def _put(self, key: str, entry: CacheEntry, deadline: Deadline) -> None:
        """L1 at once; L2 within its write timeout and what is left of the page's deadline, never after it."""
        budget_s = min(self._policy.write_timeout_s, deadline.remaining_s())
        if budget_s <= 0 or self._cache.l2 is None:
            self._cache.l1.put_now(key, entry)
            return
        try:
            async with asyncio.timeout(budget_s):
                await self._cache.put(key, entry)
        except TimeoutError:  # a lost write only costs a later miss
            pass

    def _stale_or(self, entry: CacheEntry | None, failure: Failed) -> Failed | Stale:
        now = self._clock()
        if entry is None or entry.status != 200 or not is_usable_stale(entry, now):
            return failure
        return Stale(entry.value, age_s(entry, now), failure.duration_ms)


def _key(section: Section, entity_id: str) -> str:
    return cache_key(section.service, entity_id)


def _from_fresh_entry(entry: CacheEntry, now: float, duration_ms: float) -> Fetched | Failed:
    if entry.status == 404:
        return Failed(FailureReason.NOT_FOUND, duration_ms, cache="hit")
    return Fetched(entry.value, duration_ms, cache="hit", fresh_for_s=entry.fresh_until - now)


def _uncached(outcome: Failed | Fetched) -> Failed | Fetched:
    """A section that is never cached leaves nothing for a browser or a CDN to keep either."""
    return replace(outcome, fresh_for_s=0.0) if isinstance(outcome, Fetched) else outcome


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
