"""The aggregation policy: pure code that turns the outcome of each section into a status and a body.

- A critical section that failed fails the page: 404 when its service said not found, 504 when it ran out of
  time, 502 for anything else.
- An optional section that failed is null, never a made-up value, and is listed in meta.degraded.
- A page with any degraded section must not be cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bff.outcomes import Failed, FailureReason, Fetched, JsonValue, SectionOutcome
from bff.pages import Page, Section

_PUBLIC_DEGRADATION_REASON = {
    FailureReason.TIMEOUT: "timeout",
    FailureReason.UNAVAILABLE: "unavailable",
    FailureReason.NOT_FOUND: "unavailable",
    FailureReason.BAD_RESPONSE: "bad_response",
}


@dataclass(frozen=True, slots=True)
class PageAnswer:
    body: dict[str, JsonValue]
    degraded: bool
    status: int = 200


@dataclass(frozen=True, slots=True)
class PageFailure:
    status: int
    slug: str
    title: str
    detail: str


type PageDecision = PageAnswer | PageFailure


def decide(page: Page, outcomes: Mapping[str, SectionOutcome]) -> PageDecision:
    for section in page.critical_sections():
        outcome = _outcome_of(section, outcomes)
        if isinstance(outcome, Failed):
            return _critical_failure(section, outcome.reason)
    return _assemble(page, outcomes)


def _outcome_of(section: Section, outcomes: Mapping[str, SectionOutcome]) -> SectionOutcome:
    return outcomes.get(section.name, Failed(FailureReason.TIMEOUT, duration_ms=0.0))


def _critical_failure(section: Section, reason: FailureReason) -> PageFailure:
    if reason is FailureReason.NOT_FOUND:
        return PageFailure(404, f"{section.name}-not-found", "Not found", f"No {section.name} has this id.")
    if reason is FailureReason.TIMEOUT:
        return PageFailure(
            504, "upstream-timeout", "Gateway timeout", f"The {section.name} service did not answer in time."
        )
    return PageFailure(
        502, "upstream-failure", "Bad gateway", f"The {section.name} service failed to answer."
    )


def _assemble(page: Page, outcomes: Mapping[str, SectionOutcome]) -> PageAnswer:
    body: dict[str, JsonValue] = {}
    degraded: list[JsonValue] = []
    for section in page.sections:
        outcome = _outcome_of(section, outcomes)
        if isinstance(outcome, Fetched):
            body[section.name] = outcome.value
        else:
            body[section.name] = None
            degraded.append({"source": section.name, "reason": _PUBLIC_DEGRADATION_REASON[outcome.reason]})
    body["meta"] = {"degraded": degraded}
    return PageAnswer(body=body, degraded=bool(degraded))
