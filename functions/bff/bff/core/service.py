"""The page use case: one product page, or a batch of up to MAX_BATCH_IDS of them, through one pipeline.

A page is a batch of one id. Either way the request gets one budget, each section is fetched once for every id
(bff.core.fanout: one task per section, slowest service first), and each id is then decided by the same pure
function (`page_decision`), with the same freshness rule (`fresh_for_s` of each section).
"""

from __future__ import annotations

import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bff.core.batch import unique_in_order
from bff.core.context import RequestContext
from bff.core.deadline import Deadline, page_budget_ms
from bff.core.fanout import FannedOut, fan_out
from bff.core.outcomes import CacheStatus, Failed, SectionOutcome, cache_status_of, fresh_for_s
from bff.core.policy import PageDecision, decide
from bff.core.sections import Page, Section
from bff.core.shaping import Derivation, PageOptions, select_sections, shape_page


class SectionSource(Protocol):
    """Where sections come from: a Protocol because core may not import the resilient source that implements it
    (bff.resilience.reads), nor the tracing wrapper around it."""

    async def fetch(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        """Every id's outcome for one section."""
        ...

    def fallback(self, section: Section, entity_id: str, failure: Failed, context: RequestContext) -> SectionOutcome:
        """One id's answer for a section the page stopped waiting for."""
        ...

    def slowest_first(self, sections: Sequence[Section]) -> list[Section]:
        """The order in which to launch the sections' calls."""
        ...


@dataclass(frozen=True, slots=True)
class RenderedPage:
    decision: PageDecision
    timings_ms: dict[str, float]
    """How long each section took, and the whole fan-out as "total" (for Server-Timing)."""
    cache: dict[str, CacheStatus] = field(default_factory=dict)
    """How the fragment cache answered each section it took part in: hit, miss or stale."""
    freshness_s: tuple[float | None, ...] = ()
    """Each section's remaining freshness (None: it declares none); the page is only as fresh as the least."""


@dataclass(frozen=True, slots=True)
class BatchItem:
    entity_id: str
    decision: PageDecision
    freshness_s: tuple[float | None, ...] = ()
    """Each section's remaining freshness (None: it declares none), as for a single page."""
    cache: dict[str, CacheStatus] = field(default_factory=dict)
    """How the fragment cache answered each section of this item: hit, miss or stale."""


@dataclass(frozen=True, slots=True)
class RenderedBatch:
    items: tuple[BatchItem, ...]
    timings_ms: dict[str, float]
    """How long each section's fetch for every id took, and the whole batch as "total"."""


class PageService:
    def __init__(
        self,
        page: Page,
        source: SectionSource,
        *,
        deadline_ms: int,
        reserve_ms: int,
        derivation: Derivation | None = None,
    ) -> None:
        """Without a `derivation`, pages carry no derived values (the policy's body as it is)."""
        self._page = page
        self._source = source
        self._deadline_ms = deadline_ms
        self._reserve_ms = reserve_ms
        self._derivation = derivation

    async def render(
        self,
        entity_id: str,
        context: RequestContext,
        options: PageOptions = PageOptions(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> RenderedPage:
        """One page: a batch of one id, each section timed by its own outcome."""
        started = time.perf_counter()
        page = select_sections(self._page, options.include)
        fanned = await self._fetch_sections(page, (entity_id,), context)
        outcomes = {name: by_id[entity_id] for name, by_id in fanned.outcomes.items()}
        timings_ms = {section.name: outcomes[section.name].duration_ms for section in page.sections}
        timings_ms["total"] = (time.perf_counter() - started) * 1000
        item = self._item(page, entity_id, outcomes, options)
        return RenderedPage(item.decision, timings_ms, item.cache, item.freshness_s)

    async def render_many(
        self,
        entity_ids: Sequence[str],
        context: RequestContext,
        options: PageOptions = PageOptions(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> RenderedBatch:
        """One page per id, ids taken once each in their order; `options` apply to every item, as to one page."""
        started = time.perf_counter()
        page = select_sections(self._page, options.include)
        ids = unique_in_order(entity_ids)
        fanned = await self._fetch_sections(page, ids, context)
        items = tuple(
            self._item(page, entity_id, {name: by_id[entity_id] for name, by_id in fanned.outcomes.items()}, options)
            for entity_id in ids
        )
        timings_ms = {section.name: fanned.elapsed_ms[section.name] for section in page.sections}
        timings_ms["total"] = (time.perf_counter() - started) * 1000
        return RenderedBatch(items, timings_ms)

    def _fetch_sections(
        self, page: Page, entity_ids: Sequence[str], context: RequestContext
    ) -> Coroutine[Any, Any, FannedOut]:
        """The fan-out over `page`'s sections for the ids, under the request's budget (a plain function returning
        the fan-out's coroutine, so that awaiting it costs no frame of its own)."""
        deadline = Deadline.after_ms(page_budget_ms(self._deadline_ms, context.lambda_remaining_ms(), self._reserve_ms))
        source = self._source

        def fetch(section: Section) -> Coroutine[Any, Any, dict[str, SectionOutcome]]:
            return source.fetch(section, entity_ids, deadline, context)  # the coroutine: no frame of its own

        def fallback(section: Section, entity_id: str, failure: Failed) -> SectionOutcome:
            return source.fallback(section, entity_id, failure, context)

        return fan_out(source.slowest_first(page.sections), entity_ids, fetch, deadline, fallback)

    def _item(
        self, page: Page, entity_id: str, outcomes: Mapping[str, SectionOutcome], options: PageOptions
    ) -> BatchItem:
        freshness = tuple(fresh_for_s(outcomes[section.name]) for section in page.sections)
        cache = {name: status for name, outcome in outcomes.items() if (status := cache_status_of(outcome)) is not None}
        return BatchItem(entity_id, page_decision(page, outcomes, options, self._derivation), freshness, cache)


def page_decision(
    page: Page, outcomes: Mapping[str, SectionOutcome], options: PageOptions, derivation: Derivation | None
) -> PageDecision:
    """One page's decision from its sections' outcomes: the policy, then the shaping (none without a derivation).
    Pure; a single page and each item of a batch are decided by it alike."""
    if derivation is None:
        return decide(page, outcomes)
    return shape_page(page, outcomes, options, derivation)
