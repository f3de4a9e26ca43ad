"""The product-details use case: budget the request, fan out, apply the policy."""

from __future__ import annotations

from collections.abc import Mapping

from bff.deadline import Deadline, page_budget_ms
from bff.downstream import DownstreamClient
from bff.fanout import fan_out
from bff.outcomes import SectionOutcome
from bff.pages import Page, Section
from bff.policy import PageDecision, decide
from bff.settings import Settings


class PageService:
    def __init__(self, page: Page, client: DownstreamClient, settings: Settings) -> None:
        self._page = page
        self._client = client
        self._settings = settings

    async def render(
        self, entity_id: str, *, lambda_remaining_ms: int | None, headers: Mapping[str, str]
    ) -> PageDecision:
        budget_ms = page_budget_ms(
            self._settings.page_deadline_ms, lambda_remaining_ms, self._settings.response_reserve_ms
        )
        deadline = Deadline.after_ms(budget_ms)

        async def fetch(section: Section, timeout_s: float) -> SectionOutcome:
            return await self._client.fetch(section, entity_id, timeout_s=timeout_s, headers=headers)

        outcomes = await fan_out(self._page, fetch, deadline)
        return decide(self._page, outcomes)
