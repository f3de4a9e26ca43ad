"""The page use case: budget the request, fan out through the resilient caller, apply the policy."""

from __future__ import annotations

from collections.abc import Mapping

from bff.deadline import Deadline, page_budget_ms
from bff.fanout import fan_out
from bff.outcomes import SectionOutcome
from bff.pages import Page, Section
from bff.policy import PageDecision, decide
from bff.resilience.caller import ResilientCaller


class PageService:
    def __init__(self, page: Page, caller: ResilientCaller, *, deadline_ms: int, reserve_ms: int) -> None:
        self._page = page
        self._caller = caller
        self._deadline_ms = deadline_ms
        self._reserve_ms = reserve_ms

    async def render(
        self, entity_id: str, *, lambda_remaining_ms: int | None, headers: Mapping[str, str]
    ) -> PageDecision:
        deadline = Deadline.after_ms(page_budget_ms(self._deadline_ms, lambda_remaining_ms, self._reserve_ms))

        async def fetch(section: Section, section_deadline: Deadline) -> SectionOutcome:
            return await self._caller.fetch(section, entity_id, section_deadline, headers)

        outcomes = await fan_out(self._page, fetch, deadline)
        return decide(self._page, outcomes)
