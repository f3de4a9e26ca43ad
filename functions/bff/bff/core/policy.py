"""The aggregation policy: pure code that turns the outcome of each section into a status and a body.

- A critical section that failed fails the page: 404 when its service said not found, 504 when it ran out of
  time, 503 with Retry-After when its breaker is open (or its bulkhead full), 502 for anything else.
- An optional section that failed is null, never a made-up value, and is listed in meta.degraded.
- A section answered from a cached entry past its freshness (stale-if-error) is served, listed as stale with its age.
- A page with any degraded section must not be cached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bff.core.outcomes import Failed, FailureReason, Fetched, JsonValue, SectionOutcome, Stale
from bff.core.sections import Page, Section

_PUBLIC_DEGRADATION_REASON = {
    FailureReason.TIMEOUT: "timeout",
    FailureReason.UNAVAILABLE: "unavailable",
    FailureReason.NOT_FOUND: "unavailable",
    FailureReason.REFUSED: "unavailable",
    FailureReason.BULKHEAD_FULL: "unavailable",
    FailureReason.BAD_RESPONSE: "bad_response",
    FailureReason.CIRCUIT_OPEN: "circuit_open",
}
_OVERLOAD_RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class PageAnswer:
    body: dict[str, JsonValue]
    degradations: tuple[tuple[str, str], ...]
    """(section, public reason) of each section that is not a fresh answer."""
    status: int = 200

    @property
    def degraded(self) -> bool:
        return bool(self.degradations)


@dataclass(frozen=True, slots=True)
class PageFailure:
    """The page cannot be served: which critical section failed, why, and the status that says so
    (bff.api.failures words it for the client)."""

    status: int
    section: str
    reason: FailureReason
    retry_after_s: int | None = None


type PageDecision = PageAnswer | PageFailure


def decide(page: Page, outcomes: Mapping[str, SectionOutcome]) -> PageDecision:
    for section in page.critical_sections():
        outcome = _outcome_of(section, outcomes)
        if isinstance(outcome, Failed):
            return _critical_failure(section, outcome)
    return _assemble(page, outcomes)


def _outcome_of(section: Section, outcomes: Mapping[str, SectionOutcome]) -> SectionOutcome:
    return outcomes.get(section.name, Failed(FailureReason.TIMEOUT, duration_ms=0.0))


def public_reason(reason: FailureReason) -> str:
    """The reason a client sees for a section (or item) that could not be served fresh."""
    return _PUBLIC_DEGRADATION_REASON[reason]


def critical_failure(section: Section, failure: Failed) -> PageFailure:
    """The page failure for a critical section that failed (other use cases with critical calls share it)."""
    return _critical_failure(section, failure)


def _critical_failure(section: Section, failure: Failed) -> PageFailure:
    name, reason = section.name, failure.reason
    match reason:
        case FailureReason.NOT_FOUND:
            return PageFailure(404, name, reason)
        case FailureReason.TIMEOUT:
            return PageFailure(504, name, reason)
        case FailureReason.REFUSED:
            # The service refused the request as this caller made it (its id, its identity): the caller's
            # problem, so a 4xx that no 5xx alarm or canary rollback counts.
            return PageFailure(422, name, reason)
        case FailureReason.CIRCUIT_OPEN | FailureReason.BULKHEAD_FULL:
            retry_after_s = max(math.ceil(failure.retry_after_s or _OVERLOAD_RETRY_AFTER_S), 1)
            return PageFailure(503, name, reason, retry_after_s)
        case _:
            return PageFailure(502, name, reason)


def _assemble(page: Page, outcomes: Mapping[str, SectionOutcome]) -> PageAnswer:
    body: dict[str, JsonValue] = {}
    degraded: list[JsonValue] = []
    degradations: list[tuple[str, str]] = []
    for section in page.sections:
        outcome = _outcome_of(section, outcomes)
        match outcome:
            case Fetched(value=value):
                body[section.name] = value
            case Stale(value=value, age_s=age_s):
                body[section.name] = value
                degraded.append({"source": section.name, "reason": "stale", "ageSeconds": math.floor(age_s)})
                degradations.append((section.name, "stale"))
            case Failed(reason=reason):
                body[section.name] = None
                degraded.append({"source": section.name, "reason": _PUBLIC_DEGRADATION_REASON[reason]})
                degradations.append((section.name, _PUBLIC_DEGRADATION_REASON[reason]))
    body["meta"] = {"degraded": degraded}
    return PageAnswer(body=body, degradations=tuple(degradations))
