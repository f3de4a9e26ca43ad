"""Concurrent fan-out of a page's sections for one or many ids, under one deadline.

Each section is one task that fetches every id at once. The fan-out stops waiting as soon as a critical section has
failed for every id (no page can be answered) or the deadline passes; whatever is still running then is cancelled,
counted as a timeout for each of its ids, and handed to `fallback`, which may still answer it (from the fragment
cache).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, SectionOutcome
from bff.core.sections import Section

type FetchSection = Callable[[Section], Coroutine[Any, Any, dict[str, SectionOutcome]]]
"""Every id's outcome for one section."""
type Fallback = Callable[[Section, str, Failed], SectionOutcome]
"""One id's answer for a section the fan-out stopped waiting for."""


def keep_failure(_section: Section, _entity_id: str, failure: Failed) -> SectionOutcome:
    return failure


@dataclass(slots=True)
class FannedOut:
    outcomes: dict[str, dict[str, SectionOutcome]] = field(default_factory=dict)
    """Each section's outcome for each id, by section name, then id."""
    elapsed_ms: dict[str, float] = field(default_factory=dict)
    """How long each section's task ran, from the fan-out's start to its answer or its cancellation."""


async def fan_out(
    sections: Sequence[Section],
    entity_ids: Sequence[str],
    fetch: FetchSection,
    deadline: Deadline,
    fallback: Fallback = keep_failure,
) -> FannedOut:
    """Tasks start in the order of `sections` (the caller's launch order); every id gets an outcome."""
    started = time.perf_counter()
    fanned = FannedOut()
    pending: dict[asyncio.Task[dict[str, SectionOutcome]], Section] = {}
    for section in sections:
        if deadline.cap_s(section.timeout_ms) <= 0:
            timed_out = Failed(FailureReason.TIMEOUT, duration_ms=0.0)
            fanned.outcomes[section.name] = {
                entity_id: fallback(section, entity_id, timed_out) for entity_id in entity_ids
            }
            fanned.elapsed_ms[section.name] = 0.0
        else:
            pending[asyncio.create_task(fetch(section))] = section
    try:
        await _collect_until_settled(pending, fanned, deadline, started, _EveryId(entity_ids, fallback))
    finally:
        await _cancel(pending)
    for task, section in pending.items():
        fanned.elapsed_ms[section.name] = _elapsed_ms(started)
        if task.cancelled():
            timed_out = Failed(FailureReason.TIMEOUT, duration_ms=fanned.elapsed_ms[section.name])
            fanned.outcomes[section.name] = {
                entity_id: fallback(section, entity_id, timed_out) for entity_id in entity_ids
            }
        else:
            fanned.outcomes[section.name] = _EveryId(entity_ids, fallback).of(section, task.result(), started)
    return fanned


@dataclass(frozen=True, slots=True)
class _EveryId:
    """Completes a section's answer: an id its source left out is a timeout handed to `fallback`, as for a
    section the fan-out stopped waiting for, so that every id has an outcome (never a missing key)."""

    entity_ids: Sequence[str]
    fallback: Fallback

    def of(self, section: Section, by_id: dict[str, SectionOutcome], started: float) -> dict[str, SectionOutcome]:
        missing = [entity_id for entity_id in self.entity_ids if entity_id not in by_id]
        if not missing:
            return by_id
        left_out = Failed(FailureReason.TIMEOUT, duration_ms=_elapsed_ms(started))
        return {**by_id, **{entity_id: self.fallback(section, entity_id, left_out) for entity_id in missing}}


async def _collect_until_settled(
    pending: dict[asyncio.Task[dict[str, SectionOutcome]], Section],
    fanned: FannedOut,
    deadline: Deadline,
    started: float,
    every_id: _EveryId,
) -> None:
    while pending and not deadline.expired():
        done, _ = await asyncio.wait(pending, timeout=deadline.remaining_s(), return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            section = pending.pop(task)
            by_id = fanned.outcomes[section.name] = every_id.of(section, task.result(), started)
            fanned.elapsed_ms[section.name] = _elapsed_ms(started)
            if section.critical and failed_for_every_id(by_id):
                return


def failed_for_every_id(by_id: dict[str, SectionOutcome]) -> bool:
    """No id has an answer: a critical section like this leaves no page to answer."""
    return all(isinstance(outcome, Failed) for outcome in by_id.values())


async def _cancel(pending: dict[asyncio.Task[dict[str, SectionOutcome]], Section]) -> None:
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
