"""What happened to each downstream call, as plain values the aggregation policy can reason about."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None


class FailureReason(StrEnum):
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    BAD_RESPONSE = "bad_response"
    NOT_FOUND = "not_found"
    CIRCUIT_OPEN = "circuit_open"
    BULKHEAD_FULL = "bulkhead_full"

    @property
    def blames_the_service(self) -> bool:
        """Whether this failure says something about the downstream's health (and feeds its breaker)."""
        return self in {FailureReason.TIMEOUT, FailureReason.UNAVAILABLE, FailureReason.BAD_RESPONSE}


@dataclass(frozen=True, slots=True)
class Fetched:
    """The call answered with a body of the promised shape, already reduced to the public model."""

    value: JsonValue
    duration_ms: float


@dataclass(frozen=True, slots=True)
class Failed:
    reason: FailureReason
    duration_ms: float
    retryable: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Stale:
    """A failed call answered from the last good answer for the same id."""

    value: JsonValue
    age_s: float
    duration_ms: float = 0.0


type SectionOutcome = Fetched | Failed | Stale


def is_definitive(outcome: SectionOutcome) -> bool:
    """An answer worth keeping: a good body, or the service saying the thing does not exist."""
    return isinstance(outcome, Fetched) or (isinstance(outcome, Failed) and outcome.reason is FailureReason.NOT_FOUND)
