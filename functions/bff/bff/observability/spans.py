"""Spans around the page's sections and the shared cache, as wrappers the composition root puts in place only when
tracing is on (off, the page runs on the bare objects and pays nothing).

A section's span is opened inside the section's own task (the fan-out starts one per section), so the attempts,
hedges and cache calls under it are its children, and sections are siblings under the SERVER span.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from bff.cache.entry import CacheEntry, FragmentStore, OnStoreError, ignore_store_error
from bff.cache.tiered import Tier
from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, SectionOutcome, Stale, cache_status_of
from bff.core.sections import Section
from bff.core.service import SectionSource
from bff.observability.tracing import NO_SPAN, Span, Tracing

PAGE_DEADLINE_REASON = "page_deadline"
# The span of the section whose task is running: each section's task has its own copy of the context.
_open_section: ContextVar[Span] = ContextVar("bff_section_span", default=NO_SPAN)


def traced_cache_lookup(section: str, tier: Tier | None) -> None:
    """One section's fragment-cache lookup on the running section's span: the tier that had it (l1, l2), or none
    (a miss). The request's recorder counts it for the canonical line (bff.resilience.caching)."""
    del section
    _open_section.get().set("bff.cache.tier", tier or "none")


class TracedSections:
    """A SectionSource whose every section fetch is a span: its cache outcome (hit, miss, stale), the tier that
    answered, and why it is degraded (the failure's reason, `stale`, or `page_deadline` when the page stopped
    waiting). Around a page's source, whose fetches are for one id: a fetch for many ids gets the span and the
    number of ids, not one id's outcome."""

    def __init__(self, inner: SectionSource, tracing: Tracing) -> None:
        self._inner = inner
        self._tracing = tracing

    async def fetch(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        with self._tracing.section(section.name, section.service) as span:
            token = _open_section.set(span)
            try:
                outcomes = await self._inner.fetch(section, entity_ids, deadline, context)
            except asyncio.CancelledError:
                span.set("bff.degradation.reason", PAGE_DEADLINE_REASON)
                raise
            finally:
                _open_section.reset(token)
            if len(outcomes) == 1:
                describe_section(span, next(iter(outcomes.values())))
            else:
                span.set("bff.batch.ids", len(outcomes))
            return outcomes

    def fallback(self, section: Section, entity_id: str, failure: Failed, context: RequestContext) -> SectionOutcome:
        return self._inner.fallback(section, entity_id, failure, context)

    def slowest_first(self, sections: Sequence[Section]) -> list[Section]:
        return self._inner.slowest_first(sections)


def describe_section(span: Span, outcome: SectionOutcome) -> None:
    span.set("bff.cache.outcome", cache_status_of(outcome))
    if isinstance(outcome, Stale):
        span.set("bff.degradation.reason", "stale")
    elif isinstance(outcome, Failed) and outcome.reason is not FailureReason.NOT_FOUND:
        span.set("bff.degradation.reason", outcome.reason.value)
        span.fail(outcome.reason.value)


class TracedStore:
    """The shared cache (L2) with a CLIENT span per batched read and write. Ours, not an instrumentation library's: the
    DynamoDB tier is aiobotocore (async), which opentelemetry-instrumentation-botocore does not patch, and one
    wrapper here covers Redis too. Anything else (warm, close) is the store's own."""

    def __init__(self, inner: FragmentStore, tracing: Tracing, *, system: str, target: str) -> None:
        self._inner = inner
        self._tracing = tracing
        self._system = system
        self._target = target

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, CacheEntry]:
        with self._tracing.store(self._system, "get", self._target) as span:
            span.set("bff.cache.keys", len(keys))
            entries = await self._inner.get_many(keys, within_s, on_error)
            span.set("bff.cache.found", len(entries))
            return entries

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        with self._tracing.store(self._system, "put", self._target) as span:
            span.set("bff.cache.keys", len(entries))
            await self._inner.put_many(entries, within_s, on_error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
