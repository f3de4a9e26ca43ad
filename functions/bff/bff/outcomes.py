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


@dataclass(frozen=True, slots=True)
class Fetched:
    """The call answered with a body of the promised shape, already reduced to the public model."""

    value: JsonValue
    duration_ms: float


@dataclass(frozen=True, slots=True)
class Failed:
    reason: FailureReason
    duration_ms: float


type SectionOutcome = Fetched | Failed
