"""A batch's sections: one downstream call per chunk of ids where the service has a batch endpoint, else bounded
per-id calls; each through the same resilient caller (breaker, retries, hedging, bulkhead) as a single page.

- A chunk call is a section fetch of its own: `GET {base}{batch_path}?ids=a,b` answering `{"a": {...}}`. Its
  value is the mapping; an id left out is not found; an item not of the section's shape is a bad response for that
  item alone. A failed chunk call fails every id of the chunk, and each is then answered by the fallback per id
  (a stale copy, when there is one).
- Ids the item cache answers are not fetched; only the misses go into the chunk calls, and each fetched item is
  settled (stored) per id, as a single page would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from bff.core.batch import chunks
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, JsonValue, SectionOutcome
from bff.core.sections import Section

_MAPPING = TypeAdapter(dict[str, Any])

type FallbackOne = Callable[[Section, str, Failed, Mapping[str, str]], SectionOutcome]


class SingleSource(Protocol):
    """How one id's section is fetched and, when it fails, answered (the single page's source)."""

    async def fetch(
        self, section: Section, entity_id: str, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome: ...


class ChunkCaller(Protocol):
    """The resilient caller: a chunk call is a section fetch whose value is the mapping."""

    async def fetch(
        self, section: Section, entity_id: str, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome: ...


class ItemCache(Protocol):
    """The fragment cache per id: a fresh answer before the call, and the live answer settled after it."""

    async def lookup(
        self, section: Section, entity_id: str, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome | None: ...

    async def settle(
        self, section: Section, entity_id: str, live: Failed | Fetched, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome: ...

    def fallback(
        self, section: Section, entity_id: str, failure: Failed, headers: Mapping[str, str]
    ) -> SectionOutcome: ...


@dataclass(frozen=True, slots=True)
class BatchEndpoint:
    path: str
    max_ids: int


class BatchingSource:
    """A BatchSectionSource (bff.core.batch)."""

    def __init__(
        self,
        single: SingleSource,
        caller: ChunkCaller,
        items: ItemCache,
        endpoints: Mapping[str, BatchEndpoint],
        *,
        concurrency: int,
    ) -> None:
        self._single = single
        self._caller = caller
        self._items = items
        self._endpoints = dict(endpoints)
        self._concurrency = concurrency

    async def fetch_many(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, headers: Mapping[str, str]
    ) -> dict[str, SectionOutcome]:
        endpoint = self._endpoints.get(section.service)
        if endpoint is None:
            return await self._one_by_one(section, entity_ids, deadline, headers)
        return await self._in_chunks(section, endpoint, entity_ids, deadline, headers)

    def fallback_one(
        self, section: Section, entity_id: str, failure: Failed, headers: Mapping[str, str]
    ) -> SectionOutcome:
        return self._items.fallback(section, entity_id, failure, headers)

    async def _one_by_one(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, headers: Mapping[str, str]
    ) -> dict[str, SectionOutcome]:
        """Per-id calls through the single page's source (its cache included), at most `concurrency` at a time."""
        slots = asyncio.Semaphore(self._concurrency)

        async def one(entity_id: str) -> SectionOutcome:
            async with slots:
                return await self._single.fetch(section, entity_id, deadline, headers)

        outcomes = await asyncio.gather(*(one(entity_id) for entity_id in entity_ids))
        return dict(zip(entity_ids, outcomes, strict=True))

    async def _in_chunks(
        self,
        section: Section,
        endpoint: BatchEndpoint,
        entity_ids: Sequence[str],
        deadline: Deadline,
        headers: Mapping[str, str],
    ) -> dict[str, SectionOutcome]:
        looked_up = await asyncio.gather(
            *(self._items.lookup(section, entity_id, deadline, headers) for entity_id in entity_ids)
        )
        outcomes = {entity_id: hit for entity_id, hit in zip(entity_ids, looked_up, strict=True) if hit is not None}
        misses = [entity_id for entity_id in entity_ids if entity_id not in outcomes]
        answered = await asyncio.gather(
            *(self._chunk(section, endpoint, chunk, deadline, headers) for chunk in chunks(misses, endpoint.max_ids))
        )
        for chunk_outcomes in answered:
            outcomes.update(chunk_outcomes)
        return outcomes

    async def _chunk(
        self,
        section: Section,
        endpoint: BatchEndpoint,
        chunk: list[str],
        deadline: Deadline,
        headers: Mapping[str, str],
    ) -> dict[str, SectionOutcome]:
        call = batch_section(section, endpoint.path)
        answer = await self._caller.fetch(call, ",".join(chunk), deadline, headers)
        settled = await asyncio.gather(
            *(
                self._items.settle(section, entity_id, item_outcome(section, answer, entity_id), deadline, headers)
                for entity_id in chunk
            )
        )
        return dict(zip(chunk, settled, strict=True))


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
    """An ItemCache without a cache: nothing answered before the call, a failure answered by `fallback`."""

    def __init__(self, fallback: FallbackOne) -> None:
        self._fallback = fallback

    async def lookup(
        self, section: Section, entity_id: str, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome | None:
        del section, entity_id, deadline, headers
        return None

    async def settle(
        self, section: Section, entity_id: str, live: Failed | Fetched, deadline: Deadline, headers: Mapping[str, str]
    ) -> SectionOutcome:
        del deadline
        return live if isinstance(live, Fetched) else self.fallback(section, entity_id, live, headers)

    def fallback(self, section: Section, entity_id: str, failure: Failed, headers: Mapping[str, str]) -> SectionOutcome:
        return self._fallback(section, entity_id, failure, headers)
