"""The batch use case: one page per id, for up to MAX_BATCH_IDS ids, under ONE deadline.

Each section is fetched once for the whole batch (the source decides how: one call per chunk where the service
has a batch endpoint, bounded per-id calls where it has not), and each item is then decided by the same pure
function as a single page. A section the batch stopped waiting for is timed out for every id still missing, and
handed to the source's fallback per id, as the single page does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bff.core.context import RequestContext
from bff.core.deadline import Deadline, page_budget_ms
from bff.core.outcomes import CacheStatus, Failed, FailureReason, SectionOutcome, cache_status_of, fresh_for_s
from bff.core.policy import PageDecision
from bff.core.sections import Page, Section
from bff.core.service import page_decision
from bff.core.shaping import Derivation, PageOptions, select_sections

MAX_BATCH_IDS = 50


class BatchSectionSource(Protocol):
    """Where a batch's sections come from: every id's outcome for one section, and a fallback per id."""

    async def fetch_many(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]: ...

    def fallback_one(
        self, section: Section, entity_id: str, failure: Failed, context: RequestContext
    ) -> SectionOutcome: ...


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
    """How long each section's batch fetch took, and the whole batch as "total"."""


def unique_in_order(entity_ids: Sequence[str]) -> list[str]:
    """Duplicates collapsed, first occurrences kept in their order."""
    return list(dict.fromkeys(entity_ids))


def chunks[T](items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive slices of at most `size` items: 24 ids by 10 give 10, 10 and 4."""
    if size < 1:
        raise ValueError("a chunk holds at least one id")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


class BatchService:
    def __init__(
        self,
        page: Page,
        source: BatchSectionSource,
        *,
        deadline_ms: int,
        reserve_ms: int,
        derivation: Derivation | None = None,
    ) -> None:
        """Without a `derivation`, items carry no derived values, as PageService's pages."""
        self._page = page
        self._source = source
        self._deadline_ms = deadline_ms
        self._reserve_ms = reserve_ms
        self._derivation = derivation

    async def render(
        self,
        entity_ids: Sequence[str],
        context: RequestContext,
        options: PageOptions = PageOptions(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> RenderedBatch:
        """`options` apply to every item, as to a single page; ids are taken as given, once each."""
        started = time.perf_counter()
        page = select_sections(self._page, options.include)
        ids = unique_in_order(entity_ids)
        deadline = Deadline.after_ms(page_budget_ms(self._deadline_ms, context.lambda_remaining_ms(), self._reserve_ms))
        by_section, timings_ms = await self._fetch_sections(page, ids, deadline, context)
        items = tuple(self._item(page, entity_id, by_section, options) for entity_id in ids)
        timings_ms["total"] = (time.perf_counter() - started) * 1000
        return RenderedBatch(items, timings_ms)

    def _item(
        self,
        page: Page,
        entity_id: str,
        by_section: Mapping[str, Mapping[str, SectionOutcome]],
        options: PageOptions,
    ) -> BatchItem:
        outcomes = {section.name: by_section[section.name][entity_id] for section in page.sections}
        freshness = tuple(fresh_for_s(outcomes[section.name]) for section in page.sections)
        cache = {name: status for name, outcome in outcomes.items() if (status := cache_status_of(outcome)) is not None}
        return BatchItem(entity_id, page_decision(page, outcomes, options, self._derivation), freshness, cache)

    async def _fetch_sections(
        self, page: Page, ids: list[str], deadline: Deadline, context: RequestContext
    ) -> tuple[dict[str, dict[str, SectionOutcome]], dict[str, float]]:
        started = time.perf_counter()
        tasks = {
            section.name: asyncio.create_task(self._source.fetch_many(section, ids, deadline, context))
            for section in page.sections
        }
        try:
            if tasks:
                await asyncio.wait(tasks.values(), timeout=deadline.remaining_s())
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        by_section: dict[str, dict[str, SectionOutcome]] = {}
        timings_ms: dict[str, float] = {}
        for section in page.sections:
            task = tasks[section.name]
            fetched = task.result() if task.done() and not task.cancelled() else {}
            timings_ms[section.name] = (time.perf_counter() - started) * 1000
            by_section[section.name] = self._complete(section, ids, fetched, timings_ms[section.name], context)
        return by_section, timings_ms

    def _complete(
        self,
        section: Section,
        ids: list[str],
        fetched: Mapping[str, SectionOutcome],
        elapsed_ms: float,
        context: RequestContext,
    ) -> dict[str, SectionOutcome]:
        """Every id's outcome: what the source answered, else a timeout handed to the fallback."""
        timed_out = Failed(FailureReason.TIMEOUT, duration_ms=elapsed_ms)
        return {
            entity_id: fetched[entity_id]
            if entity_id in fetched
            else self._source.fallback_one(section, entity_id, timed_out, context)
            for entity_id in ids
        }
