"""A batch's sections: one downstream call per chunk of ids where the service has a batch endpoint, else bounded
per-id calls; each through the same resilient caller (breaker, retries, hedging, bulkhead) as a single page.

- A chunk call is a section fetch of its own: `GET {base}{batch_path}?ids=a,b` answering `{"a": {...}}`. Its
  value is the mapping; an id left out is not found; an item not of the section's shape is a bad response for that
  item alone. A failed chunk call fails every id of the chunk, and each is then answered by the fallback per id
  (a stale copy, when there is one).
- The item cache is read once for all the ids (one L2 round trip per chunk of keys, under one timeout); only the
  misses are fetched, and the fetched items of a chunk (or of the per-id calls) are settled together: stored in
  one batched L2 write, bounded like a single page's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from bff.core.batch import chunks
from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, JsonValue, SectionOutcome
from bff.core.sections import Section

_MAPPING = TypeAdapter(dict[str, Any])

type FallbackOne = Callable[[Section, str, Failed, RequestContext], SectionOutcome]


class Caller(Protocol):
    """The resilient caller: one id's section, or a chunk call (a section fetch whose value is the mapping)."""

    async def fetch(
        self, section: Section, entity_id: str, deadline: Deadline, context: RequestContext
    ) -> Failed | Fetched: ...


class ItemCache(Protocol):
    """The fragment cache for many ids: the fresh answers before the calls, and the live answers settled after."""

    async def lookup_many(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]: ...

    async def settle_many(
        self, section: Section, live: Mapping[str, Failed | Fetched], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]: ...

    def fallback(
        self, section: Section, entity_id: str, failure: Failed, context: RequestContext
    ) -> SectionOutcome: ...


@dataclass(frozen=True, slots=True)
class BatchEndpoint:
    path: str
    max_ids: int


class BatchingSource:
    """A BatchSectionSource (bff.core.batch)."""

    def __init__(
        self,
        caller: Caller,
        items: ItemCache,
        endpoints: Mapping[str, BatchEndpoint],
        *,
        concurrency: int,
    ) -> None:
        self._caller = caller
        self._items = items
        self._endpoints = dict(endpoints)
        self._concurrency = concurrency

    async def fetch_many(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        outcomes = await self._items.lookup_many(section, entity_ids, deadline, context)
        misses = [entity_id for entity_id in entity_ids if entity_id not in outcomes]
        endpoint = self._endpoints.get(section.service)
        if endpoint is None:
            outcomes.update(await self._one_by_one(section, misses, deadline, context))
            return outcomes
        answered = await asyncio.gather(
            *(self._chunk(section, endpoint, chunk, deadline, context) for chunk in chunks(misses, endpoint.max_ids))
        )
        for chunk_outcomes in answered:
            outcomes.update(chunk_outcomes)
        return outcomes

    def fallback_one(
        self, section: Section, entity_id: str, failure: Failed, context: RequestContext
    ) -> SectionOutcome:
        return self._items.fallback(section, entity_id, failure, context)

    async def _one_by_one(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        """Per-id calls through the resilient caller, at most `concurrency` at a time, settled together."""
        slots = asyncio.Semaphore(self._concurrency)

        async def one(entity_id: str) -> Failed | Fetched:
            async with slots:
                return await self._caller.fetch(section, entity_id, deadline, context)

        live = await asyncio.gather(*(one(entity_id) for entity_id in entity_ids))
        return await self._items.settle_many(section, dict(zip(entity_ids, live, strict=True)), deadline, context)

    async def _chunk(
        self,
        section: Section,
        endpoint: BatchEndpoint,
        chunk: list[str],
        deadline: Deadline,
        context: RequestContext,
    ) -> dict[str, SectionOutcome]:
        call = batch_section(section, endpoint.path)
        answer = await self._caller.fetch(call, ",".join(chunk), deadline, context)
        live = {entity_id: item_outcome(section, answer, entity_id) for entity_id in chunk}
        return await self._items.settle_many(section, live, deadline, context)


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


class UncachedItems:
    """An ItemCache without a cache: nothing answered before the calls, a failure answered by `fallback`."""

    def __init__(self, fallback: FallbackOne) -> None:
        self._fallback = fallback

    async def lookup_many(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        del section, entity_ids, deadline, context
        return {}

    async def settle_many(
        self, section: Section, live: Mapping[str, Failed | Fetched], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        del deadline
        return {
            entity_id: outcome if isinstance(outcome, Fetched) else self.fallback(section, entity_id, outcome, context)
            for entity_id, outcome in live.items()
        }

    def fallback(self, section: Section, entity_id: str, failure: Failed, context: RequestContext) -> SectionOutcome:
        return self._fallback(section, entity_id, failure, context)
