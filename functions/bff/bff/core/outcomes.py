"""What happened to each downstream call, as plain values the aggregation policy can reason about."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None
type CacheStatus = Literal["hit", "miss", "stale"]


class FailureReason(StrEnum):
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    BAD_RESPONSE = "bad_response"
    NOT_FOUND = "not_found"
    REFUSED = "refused"
    """The service refused the request as the caller made it (a 4xx other than 404, 408 and 429)."""
    CIRCUIT_OPEN = "circuit_open"
    BULKHEAD_FULL = "bulkhead_full"

    @property
    def blames_the_service(self) -> bool:
        """Whether this failure says something about the downstream's health (and feeds its breaker and retry
        budget). A refusal does not: the caller's own input caused it, and one caller must not open a breaker or
        drain a budget for everyone."""
        return self in {FailureReason.TIMEOUT, FailureReason.UNAVAILABLE, FailureReason.BAD_RESPONSE}


@dataclass(frozen=True, slots=True)
class Fetched:
    """The call answered with a body of the promised shape, already reduced to the public model.

    `cache_control` is the downstream's header (for the fragment cache); `cache` says whether the fragment cache
    answered ("hit") or the service did ("miss"), None when the section is not cached; `fresh_for_s` is how much
    longer the answer stays fresh (None: it declares no freshness).
    """

    value: JsonValue
    duration_ms: float
    cache_control: str | None = None
    cache: CacheStatus | None = None
    fresh_for_s: float | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    reason: FailureReason
    duration_ms: float
    retryable: bool = False
    retry_after_s: float | None = None
    cache: CacheStatus | None = None
    """"hit" when a cached not-found answered (negative caching)."""


@dataclass(frozen=True, slots=True)
class Stale:
    """A failed call answered from the fragment cache's entry for the same id, past its freshness."""

    value: JsonValue
    age_s: float
    duration_ms: float = 0.0


type SectionOutcome = Fetched | Failed | Stale


def cache_status_of(outcome: SectionOutcome) -> CacheStatus | None:
    """How the fragment cache took part in a section's answer (None: it did not)."""
    return "stale" if isinstance(outcome, Stale) else outcome.cache


def fresh_for_s(outcome: SectionOutcome) -> float | None:
    """The section's remaining freshness: a stale or failed section has none left."""
    return outcome.fresh_for_s if isinstance(outcome, Fetched) else 0.0


def is_definitive(outcome: SectionOutcome) -> bool:
    """An answer worth keeping: a good body, or the service saying the thing does not exist."""
    return isinstance(outcome, Fetched) or (isinstance(outcome, Failed) and outcome.reason is FailureReason.NOT_FOUND)
