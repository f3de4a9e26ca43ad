"""Where the pages' sections come from: one section of one or many ids, through the fragment cache and the
resilient caller (breaker, retries, hedging, bulkhead). A single page, a batch and the cart's products all read here.

One section, in order:
1. The fragment cache is read once for all the ids (bff.resilience.caching: one L2 round trip per chunk of keys,
   under one timeout); only the misses are called.
2. Where the source has the service's batch endpoint, one call per chunk of misses: `GET {base}{batch_path}?ids=a,b`
   answering `{"a": {...}}`. Its value is the mapping; an id left out is not found; an item not of the section's
   shape is a bad response for that item alone; a failed chunk call fails every id of the chunk. Otherwise one call
   per id, at most `concurrency` at a time (a single id is awaited in the section's own task, with no task of its
   own).
3. The live answers of a chunk (or of the per-id calls) are settled together: stored in one batched L2 write, and a
   failure answered from a stale copy when there is one.

A page names one id, which its service's per-id endpoint serves: the page's source is built without batch endpoints
(bff.composition), the batch's and the cart's with them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bff.core.batch import chunks
from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, JsonValue, SectionOutcome
from bff.core.sections import Section
from bff.resilience.caching import ReadCache
from bff.resilience.caller import ResilientCaller

_MAPPING = TypeAdapter(dict[str, Any])


@dataclass(frozen=True, slots=True)
class BatchEndpoint:
    path: str
    max_ids: int


class SectionReads:
    """A SectionSource (bff.core.service)."""

    def __init__(
        self,
        caller: ResilientCaller,
        cache: ReadCache,
        endpoints: Mapping[str, BatchEndpoint] | None = None,
        *,
        concurrency: int = 1,
    ) -> None:
        """Without `endpoints`, every id is a call of its own."""
        self._caller = caller
        self._cache = cache
        self._endpoints = dict(endpoints or {})
        self._concurrency = concurrency

    async def fetch(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        outcomes = await self._cache.read_fresh(section, entity_ids, deadline, context)
        misses = [entity_id for entity_id in entity_ids if entity_id not in outcomes]
        if not misses:
            return outcomes
        endpoint = self._endpoints.get(section.service)
        if endpoint is not None:
            chunk_calls = (
                self._call_chunk(section, endpoint, chunk, deadline, context)
                for chunk in chunks(misses, endpoint.max_ids)
            )
            for settled in await _all(chunk_calls):
                outcomes.update(settled)
        elif len(misses) == 1:  # a page: the call runs in the section's own task
            live = {misses[0]: await self._caller.fetch(section, misses[0], deadline, context)}
            outcomes.update(await self._cache.settle(section, live, deadline, context))
        else:
            outcomes.update(
                await self._cache.settle(
                    section, await self._call_each(section, misses, deadline, context), deadline, context
                )
            )
        return outcomes

    def fallback(self, section: Section, entity_id: str, failure: Failed, context: RequestContext) -> SectionOutcome:
        return self._cache.fallback(section, entity_id, failure, context)

    def slowest_first(self, sections: Sequence[Section]) -> list[Section]:
        return self._caller.slowest_first(sections)

    async def _call_each(
        self, section: Section, entity_ids: list[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, Failed | Fetched]:
        """One call per id through the resilient caller, at most `concurrency` at a time."""
        slots = asyncio.Semaphore(self._concurrency)

        async def call(entity_id: str) -> Failed | Fetched:
            async with slots:
                return await self._caller.fetch(section, entity_id, deadline, context)

        live = await asyncio.gather(*(call(entity_id) for entity_id in entity_ids))
        return dict(zip(entity_ids, live, strict=True))

    async def _call_chunk(
        self,
        section: Section,
        endpoint: BatchEndpoint,
        chunk: list[str],
        deadline: Deadline,
        context: RequestContext,
    ) -> dict[str, SectionOutcome]:
        """One batch endpoint call for the chunk's ids, each id's part of the answer settled."""
        answer = await self._caller.fetch(batch_section(section, endpoint.path), ",".join(chunk), deadline, context)
        live = {entity_id: item_outcome(section, answer, entity_id) for entity_id in chunk}
        return await self._cache.settle(section, live, deadline, context)


async def _all[T](calls: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """The calls' answers in order; a single call is awaited in the caller's own task."""
    pending = list(calls)
    if len(pending) == 1:
        return [await pending[0]]
    return await asyncio.gather(*pending)


@cache
def batch_section(section: Section, batch_path: str) -> Section:
    """The section as its batch endpoint serves it: the ids in the query, the answer a mapping by id."""
    return Section(
        section.name,
        section.service,
        batch_path + "?ids={id}",
        section.timeout_ms,
        _MAPPING,
        critical=section.critical,
    )


def item_outcome(section: Section, answer: SectionOutcome, entity_id: str) -> Failed | Fetched:
    """One id's part of a chunk's answer: its item in the section's public shape, not found when left out."""
    if isinstance(answer, Failed):
        return answer
    if not isinstance(answer, Fetched) or not isinstance(answer.value, dict):
        return Failed(FailureReason.BAD_RESPONSE, answer.duration_ms)
    if entity_id not in answer.value:
        return Failed(FailureReason.NOT_FOUND, answer.duration_ms)
    try:
        model = section.shape.validate_python(answer.value[entity_id])
    except ValidationError:
        return Failed(FailureReason.BAD_RESPONSE, answer.duration_ms)
    value: JsonValue = section.shape.dump_python(model, mode="json", by_alias=True)
    return Fetched(value, answer.duration_ms, cache_control=answer.cache_control)
