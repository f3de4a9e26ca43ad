"""Concurrent fan-out of a page's sections under one deadline.

Every section starts at once. The fan-out stops waiting as soon as a critical section has failed (the page is
lost anyway) or the deadline passes; whatever is still running then is cancelled, counted as a timeout and
handed to `on_timeout`, which may still answer it (from the fragment cache).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, SectionOutcome
from bff.core.sections import Page, Section

type FetchSection = Callable[[Section, Deadline], Coroutine[Any, Any, SectionOutcome]]
type OnTimeout = Callable[[Section, Failed], SectionOutcome]


def _as_is(_section: Section, failure: Failed) -> SectionOutcome:
    return failure


async def fan_out(
    page: Page,
    fetch: FetchSection,
    deadline: Deadline,
    on_timeout: OnTimeout = _as_is,
    launch_order: Sequence[Section] | None = None,
) -> dict[str, SectionOutcome]:
    """Outcomes by section name; calls start in `launch_order`, a reordering of the page's sections."""
    sections = page.sections if launch_order is None else tuple(launch_order)
    if sorted(section.name for section in sections) != sorted(section.name for section in page.sections):
        raise ValueError("launch_order must hold each of the page's sections once")
    started = time.perf_counter()
    outcomes: dict[str, SectionOutcome] = {}
    pending: dict[asyncio.Task[SectionOutcome], Section] = {}
    for section in sections:
        if deadline.cap_s(section.timeout_ms) <= 0:
            outcomes[section.name] = on_timeout(section, Failed(FailureReason.TIMEOUT, duration_ms=0.0))
        else:
            pending[asyncio.create_task(fetch(section, deadline))] = section
    try:
        await _collect_until_settled(pending, outcomes, deadline)
    finally:
        await _cancel(pending)
    for task, section in pending.items():
        if task.cancelled():
            timed_out = Failed(FailureReason.TIMEOUT, duration_ms=(time.perf_counter() - started) * 1000)
            outcomes[section.name] = on_timeout(section, timed_out)
        else:
            outcomes[section.name] = task.result()
    return outcomes


async def _collect_until_settled(
    pending: dict[asyncio.Task[SectionOutcome], Section],
    outcomes: dict[str, SectionOutcome],
    deadline: Deadline,
) -> None:
    while pending and not deadline.expired():
        done, _ = await asyncio.wait(pending, timeout=deadline.remaining_s(), return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            section = pending.pop(task)
            outcome = outcomes[section.name] = task.result()
            if section.critical and isinstance(outcome, Failed):
                return


async def _cancel(pending: dict[asyncio.Task[SectionOutcome], Section]) -> None:
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
