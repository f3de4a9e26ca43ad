"""The fragment cache on the read path: each section's downstream answer, kept per service and id.

The key holds only what changes a service's answer. No header of the caller's is part of it: the services' answers
do not depend on the caller's language (the BFF sends none downstream), and what does (a price as a locale writes
it) is rendered after the cache, from the negotiated locale (bff.core.shaping). A caller who varies its headers
therefore neither bypasses the cache nor fills it.

One section of one or many ids (bff.resilience.reads calls it before and after the live calls), in order:
1. A service whose TTL is 0 (the cart) is never cached: the live call alone answers.
2. The tiered cache is read: L1, then L2 once for every id L1 cannot answer (one round trip per chunk of keys,
   within the store's own tight timeout, never past the page's deadline). A fresh 200 entry answers ("hit"), a
   fresh 404 entry answers not found (negative caching).
3. Otherwise the live call answers ("miss"). A good answer is stored for the service's TTL, shortened by the
   downstream's Cache-Control as a private cache would (RFC 9111), and then kept STALE_TTL_S longer for
   stale-if-error; a 404 is kept for the negative TTL in L1 only: any caller can name ids that do not exist, and
   such ids must not fill the shared table or slow the answer with writes. The good answers settled together are
   written together (one batched L2 write), awaited inside the page's deadline: Lambda freezes the environment
   once the handler returns, so nothing may run after the response.
   A request's L2 reads and writes share one allowance, the L2's read timeout (`l2_allowance_s`): a write gets
   what the request's L2 waits so far have left of it, within the write timeout, so a slow or hung L2 adds at
   most its read timeout to a page or a batch (a store that just failed is skipped anyway, bff.cache.outage).
4. A failed live call (an open breaker, or the page's deadline cutting the call) is answered from an entry past
   its freshness but inside its stale window ("stale"), exactly as the old last-known-good store did.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from bff.cache.entry import CacheEntry, Clock, age_s, cache_key, freshness_s, is_fresh, is_usable_stale, may_serve_stale
from bff.cache.tiered import Found, Tier, TieredCache
from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, SectionOutcome, Stale
from bff.core.sections import Section

type OnLookup = Callable[[str, Tier | None], None]
"""Hears of one section's cache lookup beside the request's recorder (its span, when tracing is on): the section's
name and the tier that had a fresh entry (None: a miss)."""


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
    l2_allowance_s: float = math.inf
    """The most one request may wait on L2, reads and writes together (the L2's read timeout)."""


class ReadCache:
    """The fragment cache as the read path uses it (bff.resilience.reads): the fresh answers before the calls, the
    live answers settled after them, and an answer for a section the page stopped waiting for."""

    def __init__(
        self,
        cache: TieredCache,
        policy: CachePolicy,
        *,
        on_lookup: OnLookup | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._cache = cache
        self._policy = policy
        self._on_lookup = on_lookup
        self._clock = clock

    async def read_fresh(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        """Each fresh entry's answer by id (a 404 entry answers not found); an id left out must be fetched live.
        L2 is asked once for all the ids L1 cannot answer: a batch sends only the misses downstream. Each lookup, and
        a failed L2 read, is recorded by the request's recorder."""
        if self._ttl_s(section) <= 0:
            return {}
        started = time.perf_counter()
        keys = {entity_id: _key(section, entity_id) for entity_id in entity_ids}
        found = await self._lookup(list(keys.values()), deadline, context)
        now, elapsed_ms = self._clock(), _elapsed_ms(started)
        outcomes: dict[str, SectionOutcome] = {}
        recorder, on_lookup = context.recorder, self._on_lookup
        for entity_id, key in keys.items():
            entry, tier = found.get(key, (None, None))
            if entry is None or not is_fresh(entry, now):
                tier = None
            else:
                outcomes[entity_id] = _from_fresh_entry(entry, now, elapsed_ms)
            recorder.record_cache_lookup(section.name, tier)
            if on_lookup is not None:
                on_lookup(section.name, tier)
        return outcomes

    async def settle(
        self, section: Section, live: Mapping[str, Failed | Fetched], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        """The live answers after a miss: good ones and not-founds are stored (in one L2 write), a failure is
        answered stale when an entry (L1 holds any usable one L2 gave) is inside its stale window."""
        ttl_s = self._ttl_s(section)
        if ttl_s <= 0:
            return {entity_id: _uncached(outcome) for entity_id, outcome in live.items()}
        outcomes: dict[str, SectionOutcome] = {}
        entries: dict[str, CacheEntry] = {}
        for entity_id, outcome in live.items():
            key = _key(section, entity_id)
            outcomes[entity_id], stored = self._settle_one(key, outcome, ttl_s)
            if stored is not None:
                entries[key] = stored
        await self._put(entries, deadline, context)
        return outcomes

    def fallback(self, section: Section, entity_id: str, failure: Failed, context: RequestContext) -> SectionOutcome:
        """A section the page stopped waiting for: answered from L1 (synchronously) when it has the id."""
        del context
        if failure.reason is FailureReason.NOT_FOUND or self._ttl_s(section) <= 0:
            return failure
        entry = self._cache.l1.get_now(_key(section, entity_id))
        now = self._clock()
        if entry is not None and is_fresh(entry, now):
            return _from_fresh_entry(entry, now, failure.duration_ms)
        return self._serve_stale(entry, failure)

    def _ttl_s(self, section: Section) -> float:
        return self._policy.ttl_s.get(section.service, 0.0)

    async def _lookup(self, keys: list[str], deadline: Deadline, context: RequestContext) -> Found:
        """Both tiers within what is left of the page's deadline (the L2 store's own timeout is the tighter)."""
        if self._cache.l2 is None:  # memory alone: nothing to wait for, so no timer to arm
            return await self._cache.get_many(keys, 0.0)
        remaining_s = deadline.remaining_s()
        if remaining_s > 0:
            started = deadline.clock()
            try:
                async with asyncio.timeout(remaining_s):
                    return await self._cache.get_many(keys, remaining_s, context.recorder.record_cache_error)
            except TimeoutError:  # the page's deadline, not the store's: L1 alone answers
                pass
            finally:
                deadline.cache_waits.add(started, deadline.clock())
        return {key: (local, "l1") for key in keys if (local := self._cache.l1.get_now(key)) is not None}

    def _settle_one(self, key: str, live: Failed | Fetched, ttl_s: float) -> tuple[SectionOutcome, CacheEntry | None]:
        """The answer for one live outcome, and the entry to store for it (None: nothing to store)."""
        now = self._clock()
        if isinstance(live, Fetched):
            fresh_s = freshness_s(ttl_s, live.cache_control)
            if fresh_s is None:  # no-store: the page may not be kept either
                return replace(live, cache="miss", fresh_for_s=0.0), None
            stale_s = self._policy.stale_s if may_serve_stale(live.cache_control) else 0.0
            entry = CacheEntry.create(live.value, status=200, now=now, fresh_s=fresh_s, stale_s=stale_s)
            return replace(live, cache="miss", fresh_for_s=fresh_s), entry
        if live.reason is FailureReason.NOT_FOUND:
            negative_s = min(ttl_s, self._policy.negative_ttl_s)
            if negative_s <= 0:
                return replace(live, cache="miss"), None
            return replace(live, cache="miss"), CacheEntry.create(
                None, status=404, now=now, fresh_s=negative_s, stale_s=0
            )
        return self._serve_stale(self._cache.l1.get_now(key), live), None

    async def _put(self, entries: dict[str, CacheEntry], deadline: Deadline, context: RequestContext) -> None:
        """L1 at once; L2 (good answers only) in one batched write within its write timeout, what is left of the
        request's L2 allowance and of the page's deadline, never after it (Lambda freezes the environment once the
        handler returns)."""
        shared = {key: entry for key, entry in entries.items() if entry.status == 200}
        for key, entry in entries.items():
            if key not in shared:
                self._cache.l1.put_now(key, entry)
        allowance_s = self._policy.l2_allowance_s - deadline.cache_waits.total_s()
        budget_s = min(self._policy.write_timeout_s, allowance_s, deadline.remaining_s())
        if budget_s <= 0 or self._cache.l2 is None or not shared:
            for key, entry in shared.items():
                self._cache.l1.put_now(key, entry)
            return
        started = deadline.clock()
        try:
            async with asyncio.timeout(budget_s):
                await self._cache.put_many(shared, budget_s, context.recorder.record_cache_error)
        except TimeoutError:  # a lost write only costs a later miss
            pass
        finally:
            deadline.cache_waits.add(started, deadline.clock())

    def _serve_stale(self, entry: CacheEntry | None, failure: Failed) -> Failed | Stale:
        """The entry's answer, marked stale, when it is inside its stale window; else the failure."""
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
