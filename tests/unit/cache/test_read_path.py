"""The fragment cache on the read path (ReadCache, in the section reads around the resilient caller): hits, misses,
stale-if-error, negative caching, Cache-Control, per-service TTLs, the page deadline, and what the page learns
from it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from bff.cache.entry import CacheEntry, OnStoreError, cache_key, ignore_store_error
from bff.cache.memory import MemoryStore
from bff.cache.tiered import Tier, TieredCache
from bff.config.pages import product_details_page
from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, SectionOutcome, Stale
from bff.core.sections import Section
from bff.core.service import PageService
from bff.resilience.backoff import Backoff
from bff.resilience.caching import CachePolicy, ReadCache
from bff.resilience.caller import ResilientCaller
from bff.resilience.circuit_breaker import CircuitBreaker
from bff.resilience.guard import DownstreamGuard, RetryPolicy
from bff.resilience.reads import SectionReads
from bff.resilience.retry_budget import RetryBudget
from tests.support.context import NO_CONTEXT, request_context
from tests.support.settings import settings_for
from tests.unit.cache.support import FakeClock, FakeL2

pytestmark = pytest.mark.anyio
SECTIONS = {section.name: section for section in product_details_page(settings_for()).sections}
PRODUCT, REVIEWS = SECTIONS["product"], SECTIONS["reviews"]
CART = Section("cart", "cart", "/carts/{id}", 450, PRODUCT.shape, critical=True)
TTLS = {"product": 300.0, "reviews": 60.0, "inventory": 5.0, "cart": 0.0}
POLICY = CachePolicy(ttl_s=TTLS, stale_s=300.0, negative_ttl_s=30.0, write_timeout_s=0.05)
GOOD = Fetched({"id": "P1"}, 1.0)
DOWN = Failed(FailureReason.UNAVAILABLE, 1.0)
NOT_FOUND = Failed(FailureReason.NOT_FOUND, 1.0)


@dataclass
class Service:
    """Answers every attempt with `answer`, after `delay_s`, and counts them."""

    answer: Failed | Fetched = GOOD
    delay_s: float = 0.0
    calls: list[str] = field(default_factory=list)

    async def __call__(
        self, section: Section, entity_id: str, timeout_s: float, context: RequestContext, attempt: int
    ) -> Failed | Fetched:
        self.calls.append(entity_id)
        await asyncio.sleep(min(self.delay_s, timeout_s))
        return self.answer if self.delay_s <= timeout_s else Failed(FailureReason.TIMEOUT, timeout_s * 1000)


@dataclass
class Lookups:
    seen: list[tuple[str, Tier | None]] = field(default_factory=list)

    def __call__(self, section: str, tier: Tier | None) -> None:
        self.seen.append((section, tier))


@dataclass
class Subject:
    reads: SectionReads
    fragments: ReadCache
    service: Service
    clock: FakeClock
    cache: TieredCache
    lookups: Lookups

    async def fetch(
        self, section: Section = PRODUCT, entity_id: str = "P1", *, deadline_ms: float = 500, language: str = ""
    ) -> SectionOutcome:
        context = request_context({"accept-language": language} if language else {})
        outcomes = await self.reads.fetch(section, (entity_id,), Deadline.after_ms(deadline_ms), context)
        return outcomes[entity_id]


def subject(
    service: Service | None = None,
    *,
    l2: FakeL2 | None = None,
    policy: CachePolicy = POLICY,
    max_entries: int = 100,
) -> Subject:
    service = service or Service()
    clock, lookups = FakeClock(), Lookups()
    guards = {
        name: DownstreamGuard(CircuitBreaker(name), RetryBudget(), asyncio.Semaphore(8), hedge_delay_s=None)
        for name in TTLS
    }
    caller = ResilientCaller(service, guards, RetryPolicy(1, Backoff(0.001, 0.002)))
    cache = TieredCache(MemoryStore(max_entries, clock), l2, clock)
    fragments = ReadCache(cache, policy, on_lookup=lookups, clock=clock)
    return Subject(SectionReads(caller, fragments), fragments, service, clock, cache, lookups)


async def test_a_miss_calls_the_service_and_the_next_read_is_an_l1_hit_with_no_call() -> None:
    it = subject()
    first = await it.fetch()
    second = await it.fetch()
    assert isinstance(first, Fetched)
    assert isinstance(second, Fetched)
    assert (first.value, first.cache, first.fresh_for_s) == (GOOD.value, "miss", 300.0)
    assert (second.value, second.cache, second.fresh_for_s) == (GOOD.value, "hit", 300.0)
    assert it.service.calls == ["P1"]
    assert it.lookups.seen == [("product", None), ("product", "l1")]


async def test_an_entry_in_l2_answers_a_fresh_environment_and_fills_l1() -> None:
    l2 = FakeL2()
    key = cache_key("product", "P1")
    l2.entries[key] = CacheEntry.create({"id": "P1", "from": "l2"}, status=200, now=1_000_000.0, fresh_s=300, stale_s=0)
    it = subject(l2=l2)
    it.clock.advance(100)
    outcome = await it.fetch()
    assert isinstance(outcome, Fetched)
    assert (outcome.value, outcome.cache, outcome.fresh_for_s) == ({"id": "P1", "from": "l2"}, "hit", 200.0)
    assert it.service.calls == []
    assert it.lookups.seen == [("product", "l2")]
    assert key in it.cache.l1


async def test_a_good_answer_is_written_to_both_tiers_before_the_section_ends() -> None:
    l2 = FakeL2()
    it = subject(l2=l2)
    await it.fetch()
    stored = l2.entries[cache_key("product", "P1")]
    assert (stored.value, stored.status) == (GOOD.value, 200)
    assert stored.fresh_until - stored.stored_at == 300
    assert stored.stale_until - stored.fresh_until == 300


async def test_past_its_freshness_the_entry_answers_only_a_failed_call_as_stale_with_its_age() -> None:
    it = subject()
    await it.fetch()
    it.clock.advance(301)
    it.service.answer = DOWN
    outcome = await it.fetch()
    assert outcome == Stale(GOOD.value, 301.0, outcome.duration_ms)
    assert it.service.calls == ["P1", "P1"]
    assert it.lookups.seen == [("product", None), ("product", None)]


async def test_past_its_freshness_a_good_live_answer_replaces_the_entry() -> None:
    it = subject()
    await it.fetch()
    it.clock.advance(301)
    it.service.answer = Fetched({"id": "P1", "price": 2}, 1.0)
    outcome = await it.fetch()
    assert isinstance(outcome, Fetched)
    assert (outcome.value, outcome.cache) == ({"id": "P1", "price": 2}, "miss")


async def test_past_its_stale_window_a_failure_stays_a_failure() -> None:
    it = subject()
    await it.fetch()
    it.clock.advance(300 + 300 + 1)
    it.service.answer = DOWN
    assert await it.fetch() == DOWN


async def test_an_open_breaker_is_answered_from_the_stale_entry() -> None:
    it = subject()
    await it.fetch()
    it.clock.advance(301)
    breaker = it.reads._caller._guards["product"].breaker
    assert isinstance(breaker, CircuitBreaker)
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()
    outcome = await it.fetch()
    assert isinstance(outcome, Stale)
    assert it.service.calls == ["P1"]


async def test_a_product_404_is_cached_for_the_negative_ttl() -> None:
    it = subject(Service(NOT_FOUND))
    first = await it.fetch(entity_id="NOPE")
    second = await it.fetch(entity_id="NOPE")
    assert isinstance(first, Failed)
    assert isinstance(second, Failed)
    assert (first.reason, first.cache, second.reason, second.cache) == (
        FailureReason.NOT_FOUND,
        "miss",
        FailureReason.NOT_FOUND,
        "hit",
    )
    assert it.service.calls == ["NOPE"]
    it.clock.advance(30)
    await it.fetch(entity_id="NOPE")
    assert it.service.calls == ["NOPE", "NOPE"]


async def test_a_cached_404_is_never_served_as_stale() -> None:
    it = subject(Service(NOT_FOUND))
    await it.fetch(entity_id="NOPE")
    it.clock.advance(31)
    it.service.answer = DOWN
    assert await it.fetch(entity_id="NOPE") == DOWN


async def test_no_store_is_never_stored_and_leaves_the_page_no_freshness() -> None:
    l2 = FakeL2()
    it = subject(Service(Fetched({"id": "P1"}, 1.0, cache_control="private, no-store")), l2=l2)
    first = await it.fetch()
    await it.fetch()
    assert isinstance(first, Fetched)
    assert (first.cache, first.fresh_for_s) == ("miss", 0.0)
    assert it.service.calls == ["P1", "P1"]
    assert l2.entries == {}
    assert len(it.cache.l1) == 0


async def test_a_max_age_shorter_than_the_ttl_wins() -> None:
    it = subject(Service(Fetched({"id": "P1"}, 1.0, cache_control="max-age=10")))
    first = await it.fetch()
    assert isinstance(first, Fetched)
    assert first.fresh_for_s == 10.0
    it.clock.advance(9)
    await it.fetch()
    it.clock.advance(2)
    await it.fetch()
    assert it.service.calls == ["P1", "P1"]


async def test_a_max_age_longer_than_the_ttl_does_not_extend_it() -> None:
    it = subject(Service(Fetched([], 1.0, cache_control="max-age=86400")))
    first = await it.fetch(REVIEWS)
    assert isinstance(first, Fetched)
    assert first.fresh_for_s == 60.0


async def test_must_revalidate_leaves_no_stale_window() -> None:
    it = subject(Service(Fetched({"id": "P1"}, 1.0, cache_control="max-age=10, must-revalidate")))
    await it.fetch()
    it.clock.advance(11)
    it.service.answer = DOWN
    assert await it.fetch() == DOWN


@pytest.mark.parametrize("section", [CART, PRODUCT], ids=["cart", "product-with-ttl-0"])
async def test_a_ttl_of_0_turns_caching_off_for_the_service(section: Section) -> None:
    policy = CachePolicy(ttl_s={**TTLS, "product": 0.0}, stale_s=300, negative_ttl_s=30, write_timeout_s=0.05)
    l2 = FakeL2()
    it = subject(l2=l2, policy=policy)
    first = await it.fetch(section)
    it.service.answer = DOWN
    second = await it.fetch(section)
    assert isinstance(first, Fetched)
    assert (first.cache, first.fresh_for_s) == (None, 0.0)
    assert second == DOWN
    assert it.service.calls == ["P1", "P1"]
    assert (l2.calls, len(it.cache.l1), it.lookups.seen) == ([], 0, [])


async def test_answers_are_cached_per_service_and_id_whatever_the_language() -> None:
    it = subject()
    await it.fetch(language="fr-CH, fr;q=0.9, en;q=0.8")
    await it.fetch(language="FR-ch")
    await it.fetch(language="de")
    await it.fetch()
    assert it.service.calls == ["P1"]
    assert list(it.cache.l1._entries) == [cache_key("product", "P1")]


async def test_the_l1_keeps_at_most_its_size() -> None:
    it = subject(max_entries=2)
    for product_id in ("P1", "P2", "P3"):
        await it.fetch(entity_id=product_id)
    await it.fetch(entity_id="P1")
    assert len(it.cache.l1) == 2
    assert it.service.calls == ["P1", "P2", "P3", "P1"]


async def test_the_fallback_at_the_page_deadline_answers_from_the_l1_stale_entry() -> None:
    # Given an entry past its freshness, and a service that now hangs past a short page deadline
    it = subject()
    await it.fetch()
    it.clock.advance(301)
    it.service.delay_s = 5.0
    page = PageService(product_details_page(settings_for()), it.reads, deadline_ms=100, reserve_ms=0)
    started = time.perf_counter()
    # When the page is rendered
    rendered = await page.render("P1", NO_CONTEXT)
    # Then the deadline cut the call, and the page served the stale entry at once
    assert time.perf_counter() - started < 0.5
    assert rendered.decision.status == 200
    assert rendered.cache["product"] == "stale"
    assert rendered.freshness_s[0] == 0.0


async def test_the_fallback_answers_a_fresh_l1_entry_and_skips_ttl_0_and_not_found() -> None:
    it = subject()
    await it.fetch()
    cut = Failed(FailureReason.TIMEOUT, 100.0)
    fresh = it.fragments.fallback(PRODUCT, "P1", cut, NO_CONTEXT)
    assert isinstance(fresh, Fetched)
    assert fresh.cache == "hit"
    assert it.fragments.fallback(CART, "P1", cut, NO_CONTEXT) == cut
    assert it.fragments.fallback(PRODUCT, "P2", cut, NO_CONTEXT) == cut
    assert it.fragments.fallback(PRODUCT, "P1", NOT_FOUND, NO_CONTEXT) == NOT_FOUND


@dataclass
class SlowL2(FakeL2):
    """An L2 that ignores its own timeouts: only the caller's bounds can stop it."""

    get_delay_s: float = 0.0
    put_delay_s: float = 0.0

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, CacheEntry]:
        await asyncio.sleep(self.get_delay_s)
        return await super().get_many(keys, within_s)

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        await asyncio.sleep(self.put_delay_s)
        await super().put_many(entries, within_s)


async def test_a_slow_l2_read_never_holds_a_section_past_the_page_deadline() -> None:
    it = subject(l2=SlowL2(get_delay_s=5.0))
    started = time.perf_counter()
    outcome = await it.fetch(deadline_ms=150)
    assert time.perf_counter() - started < 0.15 + 0.1
    assert isinstance(outcome, Failed)
    assert outcome.reason is FailureReason.TIMEOUT


async def test_a_slow_l2_write_is_given_up_after_the_write_timeout_and_l1_keeps_the_answer() -> None:
    l2 = SlowL2(put_delay_s=5.0)
    it = subject(l2=l2)
    started = time.perf_counter()
    outcome = await it.fetch(deadline_ms=2_000)
    assert time.perf_counter() - started < 0.05 + 0.1
    assert isinstance(outcome, Fetched)
    assert outcome.cache == "miss"
    assert l2.entries == {}
    assert cache_key("product", "P1") in it.cache.l1


async def test_an_l2_write_is_cut_to_what_is_left_of_the_page_deadline() -> None:
    l2 = SlowL2(put_delay_s=5.0)
    policy = CachePolicy(ttl_s=TTLS, stale_s=300, negative_ttl_s=30, write_timeout_s=10.0)
    it = subject(Service(delay_s=0.1), l2=l2, policy=policy)
    started = time.perf_counter()
    outcome = await it.fetch(deadline_ms=200)
    assert 0.1 <= time.perf_counter() - started < 0.2 + 0.1
    assert isinstance(outcome, Fetched)


async def test_the_page_reports_each_sections_cache_status_and_remaining_freshness() -> None:
    it = subject()
    page = PageService(product_details_page(settings_for()), it.reads, deadline_ms=500, reserve_ms=0)
    first = await page.render("P1", NO_CONTEXT)
    it.clock.advance(2)
    second = await page.render("P1", NO_CONTEXT)
    assert first.cache == {"product": "miss", "reviews": "miss", "inventory": "miss"}
    assert first.freshness_s == (300.0, 60.0, 5.0)
    assert second.cache == {"product": "hit", "reviews": "hit", "inventory": "hit"}
    assert second.freshness_s == (298.0, 58.0, 3.0)


# --- the halves a batch uses: one lookup for many ids before the chunk call, one settle after it ----------------


async def lookup(it: Subject, section: Section, entity_id: str, deadline: Deadline) -> SectionOutcome | None:
    return (await it.fragments.read_fresh(section, [entity_id], deadline, NO_CONTEXT)).get(entity_id)


async def settle(it: Subject, section: Section, entity_id: str, live: Failed | Fetched, deadline: Deadline) -> object:
    return (await it.fragments.settle(section, {entity_id: live}, deadline, NO_CONTEXT))[entity_id]


async def test_a_batch_looks_up_and_settles_per_id_as_a_single_fetch_would() -> None:
    it = subject()
    deadline = Deadline.after_ms(500)
    # A miss answers nothing, and nothing was called
    assert await lookup(it, PRODUCT, "P1", deadline) is None
    # The chunk's item, settled, is stored: the next lookup is a hit
    settled = await settle(it, PRODUCT, "P1", GOOD, deadline)
    assert isinstance(settled, Fetched)
    assert (settled.cache, settled.fresh_for_s) == ("miss", 300.0)
    hit = await lookup(it, PRODUCT, "P1", deadline)
    assert isinstance(hit, Fetched)
    assert (hit.value, hit.cache) == (GOOD.value, "hit")
    # Past its freshness, a failed chunk call is answered stale for that id
    it.clock.advance(301)
    assert await lookup(it, PRODUCT, "P1", deadline) is None
    stale = await settle(it, PRODUCT, "P1", DOWN, deadline)
    assert isinstance(stale, Stale)
    assert stale.value == GOOD.value
    # A not-found is stored too (negative caching), and a never-cached service is never looked up
    await settle(it, PRODUCT, "P2", NOT_FOUND, deadline)
    negative = await lookup(it, PRODUCT, "P2", deadline)
    assert isinstance(negative, Failed)
    assert (negative.reason, negative.cache) == (FailureReason.NOT_FOUND, "hit")
    assert await lookup(it, CART, "alice", deadline) is None
    assert it.service.calls == []


async def test_many_ids_are_one_l2_read_and_their_answers_one_l2_write() -> None:
    # Given an L2 that holds P2 only
    l2 = FakeL2()
    l2.entries[cache_key("product", "P2")] = CacheEntry.create(
        {"id": "P2"}, status=200, now=1_000_000.0, fresh_s=300, stale_s=0
    )
    it = subject(l2=l2)
    deadline = Deadline.after_ms(500)
    ids = ["P1", "P2", "P3"]
    # When a batch looks the three up, then settles the two misses
    hits = await it.fragments.read_fresh(PRODUCT, ids, deadline, NO_CONTEXT)
    await it.fragments.settle(PRODUCT, {"P1": GOOD, "P3": NOT_FOUND}, deadline, NO_CONTEXT)
    # Then L2 saw one read for the three keys and one write for the good answer (a not-found stays in L1)
    keys = tuple(cache_key("product", entity_id) for entity_id in ids)
    assert list(hits) == ["P2"]
    assert l2.calls == [("get", keys), ("put", (keys[0],))]
    assert keys[2] in it.cache.l1


async def test_a_page_reads_l2_once_for_all_its_sections() -> None:
    l2 = FakeL2()
    it = subject(l2=l2)
    page = PageService(product_details_page(settings_for()), it.reads, deadline_ms=500, reserve_ms=0)
    await page.render("P1", NO_CONTEXT)
    reads = [keys for kind, keys in l2.calls if kind == "get"]
    assert len(reads) == 1
    assert sorted(reads[0]) == sorted(cache_key(service, "P1") for service in ("product", "reviews", "inventory"))


# --- what L2 may cost one request, and what it may hold ------------------------------------------------------


@dataclass
class TimedL2(FakeL2):
    """An L2 whose reads take `get_delay_s` and whose writes hang for all the time they are given; it records
    each call's span and each write's budget."""

    get_delay_s: float = 0.0
    spans: list[tuple[float, float]] = field(default_factory=list)
    write_budgets_s: list[float] = field(default_factory=list)

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, CacheEntry]:
        started = time.monotonic()
        try:
            await asyncio.sleep(min(self.get_delay_s, within_s))
            return await super().get_many(keys, within_s)
        finally:
            self.spans.append((started, time.monotonic()))

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        started = time.monotonic()
        self.write_budgets_s.append(within_s)
        try:
            await asyncio.sleep(within_s)
            await super().put_many(entries, within_s)
        finally:
            self.spans.append((started, time.monotonic()))


def waited_s(spans: list[tuple[float, float]]) -> float:
    """The time covered by the spans, overlaps once."""
    total, reached = 0.0, float("-inf")
    for started, ended in sorted(spans):
        if ended > reached:
            total += ended - max(started, reached)
            reached = ended
    return total


ALLOWANCE_S = 0.08
SLOW_POLICY = CachePolicy(ttl_s=TTLS, stale_s=300, negative_ttl_s=30, write_timeout_s=0.1, l2_allowance_s=ALLOWANCE_S)


async def test_a_slow_l2_costs_a_page_at_most_its_read_timeout_reads_and_writes_together() -> None:
    # Given an L2 whose read takes 60 ms of an 80 ms read timeout, and whose writes hang (write timeout 100 ms)
    l2 = TimedL2(get_delay_s=0.06)
    it = subject(l2=l2, policy=SLOW_POLICY)
    page = PageService(product_details_page(settings_for()), it.reads, deadline_ms=1_000, reserve_ms=0)
    # When a page misses
    rendered = await page.render("P1", NO_CONTEXT)
    # Then each section's write was given only what the read left of the allowance (not the write timeout),
    # and the page waited on L2 no longer than the read timeout (before: 60 ms read + 100 ms writes)
    assert rendered.cache == {"product": "miss", "reviews": "miss", "inventory": "miss"}
    assert l2.write_budgets_s
    assert all(budget <= ALLOWANCE_S - 0.06 + 0.005 for budget in l2.write_budgets_s)
    assert waited_s(l2.spans) <= ALLOWANCE_S + 0.02


async def test_a_slow_l2_costs_a_batch_at_most_its_read_timeout() -> None:
    # Given the same L2, and a batch's lookup and settle of 50 ids for each section, side by side
    l2 = TimedL2(get_delay_s=0.06)
    it = subject(l2=l2, policy=SLOW_POLICY)
    deadline = Deadline.after_ms(1_000)
    ids = [f"P{index}" for index in range(50)]
    sections = [SECTIONS[name] for name in ("product", "reviews", "inventory")]

    async def one_section(section: Section) -> None:
        await it.fragments.read_fresh(section, ids, deadline, NO_CONTEXT)
        await it.fragments.settle(section, dict.fromkeys(ids, GOOD), deadline, NO_CONTEXT)

    await asyncio.gather(*(one_section(section) for section in sections))
    # Then one read, and writes that share what it left of the allowance
    assert [kind for kind, _ in l2.calls].count("get") == 1
    assert all(budget <= ALLOWANCE_S - 0.06 + 0.005 for budget in l2.write_budgets_s)
    assert waited_s(l2.spans) <= ALLOWANCE_S + 0.02


async def test_a_request_whose_l2_read_used_the_whole_allowance_writes_only_l1() -> None:
    l2 = TimedL2(get_delay_s=0.1)
    it = subject(l2=l2, policy=SLOW_POLICY)
    outcome = await it.fetch(deadline_ms=1_000)
    assert isinstance(outcome, Fetched)
    assert [kind for kind, _ in l2.calls] == ["get"]
    assert l2.write_budgets_s == []
    assert cache_key("product", "P1") in it.cache.l1


async def test_not_found_answers_stay_in_l1_so_made_up_ids_never_reach_l2() -> None:
    # Given a healthy L2 and services that know none of 50 made-up ids
    l2 = FakeL2()
    it = subject(Service(NOT_FOUND), l2=l2, max_entries=200)
    deadline = Deadline.after_ms(500)
    ids = [f"ZF{index}" for index in range(50)]
    for section in (SECTIONS["product"], SECTIONS["reviews"], SECTIONS["inventory"]):
        # When a batch looks them up and settles the 404s
        assert await it.fragments.read_fresh(section, ids, deadline, NO_CONTEXT) == {}
        await it.fragments.settle(section, dict.fromkeys(ids, NOT_FOUND), deadline, NO_CONTEXT)
    # Then L2 was read, never written, and holds nothing; L1 answers the next lookup without a call
    assert [kind for kind, _ in l2.calls] == ["get", "get", "get"]
    assert l2.entries == {}
    again = await it.fragments.read_fresh(PRODUCT, ids, deadline, NO_CONTEXT)
    assert len(again) == 50
    assert all(isinstance(outcome, Failed) and outcome.cache == "hit" for outcome in again.values())


async def test_a_page_for_a_product_that_does_not_exist_writes_nothing_to_l2() -> None:
    l2 = FakeL2()
    it = subject(Service(NOT_FOUND), l2=l2)
    page = PageService(product_details_page(settings_for()), it.reads, deadline_ms=500, reserve_ms=0)
    await page.render("ZF1", NO_CONTEXT)
    assert [kind for kind, _ in l2.calls] == ["get"]
