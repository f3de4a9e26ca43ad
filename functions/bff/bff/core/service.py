"""The page use case: budget the request, fan out through the resilient caller, apply the policy."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bff.core.context import RequestContext
from bff.core.deadline import Deadline, page_budget_ms
from bff.core.fanout import fan_out
from bff.core.outcomes import CacheStatus, Failed, SectionOutcome, cache_status_of, fresh_for_s
from bff.core.policy import PageDecision, decide
from bff.core.sections import Page, Section
from bff.core.shaping import Derivation, PageOptions, select_sections, shape_page


class SectionSource(Protocol):
    """Where sections come from (the resilient caller in production): a fetch, a fallback for a section the page
    stopped waiting for, and the order in which to launch the calls."""

    async def fetch(
        self, section: Section, entity_id: str, deadline: Deadline, context: RequestContext
    ) -> SectionOutcome: ...

    def fallback(
        self, section: Section, entity_id: str, failure: Failed, context: RequestContext
    ) -> SectionOutcome: ...

    def slowest_first(self, sections: Sequence[Section]) -> list[Section]: ...


@dataclass(frozen=True, slots=True)
class RenderedPage:
    decision: PageDecision
    timings_ms: dict[str, float]
    """How long each section took, and the whole fan-out as "total" (for Server-Timing)."""
    cache: dict[str, CacheStatus] = field(default_factory=dict)
    """How the fragment cache answered each section it took part in: hit, miss or stale."""
    freshness_s: tuple[float | None, ...] = ()
    """Each section's remaining freshness (None: it declares none); the page is only as fresh as the least."""


class PageService:
    def __init__(
        self,
        page: Page,
        caller: SectionSource,
        *,
        deadline_ms: int,
        reserve_ms: int,
        derivation: Derivation | None = None,
    ) -> None:
        """Without a `derivation`, pages carry no derived values (the policy's body as it is)."""
        self._page = page
        self._derivation = derivation
        self._caller = caller
        self._deadline_ms = deadline_ms
        self._reserve_ms = reserve_ms

    async def render(
        self,
        entity_id: str,
        context: RequestContext,
        options: PageOptions = PageOptions(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> RenderedPage:
        started = time.perf_counter()
        budget_ms = page_budget_ms(self._deadline_ms, context.lambda_remaining_ms(), self._reserve_ms)
        deadline = Deadline.after_ms(budget_ms)

        async def fetch(section: Section, section_deadline: Deadline) -> SectionOutcome:
            return await self._caller.fetch(section, entity_id, section_deadline, context)

        def on_timeout(section: Section, failure: Failed) -> SectionOutcome:
            return self._caller.fallback(section, entity_id, failure, context)

        page = select_sections(self._page, options.include)
        launch_order = self._caller.slowest_first(page.sections)
        outcomes = await fan_out(page, fetch, deadline, on_timeout, launch_order)
        timings_ms = {section.name: outcomes[section.name].duration_ms for section in page.sections}
        timings_ms["total"] = (time.perf_counter() - started) * 1000
        cache = {name: status for name, outcome in outcomes.items() if (status := cache_status_of(outcome)) is not None}
        freshness = tuple(fresh_for_s(outcomes[section.name]) for section in page.sections)
        return RenderedPage(page_decision(page, outcomes, options, self._derivation), timings_ms, cache, freshness)


def page_decision(
    page: Page, outcomes: Mapping[str, SectionOutcome], options: PageOptions, derivation: Derivation | None
) -> PageDecision:
    """One page's decision from its sections' outcomes: the policy, then the shaping (none without a derivation).
    Pure; the single route and each item of a batch are decided by it alike."""
    if derivation is None:
        return decide(page, outcomes)
    return shape_page(page, outcomes, options, derivation)
