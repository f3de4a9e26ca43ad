"""The faults a mock can inject, and how MOCK_FAULT names them."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


class MockConfigError(ValueError):
    """A MOCK_* environment variable holds a value the mock cannot honour; raised when the mock starts."""


@dataclass(frozen=True, slots=True)
class NoFault:
    pass


@dataclass(frozen=True, slots=True)
class ServerError:
    pass


@dataclass(frozen=True, slots=True)
class Hang:
    pass


@dataclass(frozen=True, slots=True)
class Malformed:
    pass


@dataclass(frozen=True, slots=True)
class WrongShape:
    pass


@dataclass(frozen=True, slots=True)
class Flaky:
    failures: int


@dataclass(frozen=True, slots=True)
class TooManyRequests:
    retry_after_s: int


@dataclass(frozen=True, slots=True)
class SlowBody:
    chunks: int = 10
    interval_s: float = 0.1


@dataclass(frozen=True, slots=True)
class Huge:
    size_bytes: int = 2 * MIB
    chunk_bytes: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class Reset:
    pass


type Fault = NoFault | ServerError | Hang | Malformed | WrongShape | Flaky | TooManyRequests | SlowBody | Huge | Reset

# Each MOCK_FAULT value and what the mock then answers; `python -m mockkit faults` (and so `make help`) prints it.
FAULT_EFFECTS: dict[str, str] = {
    "none": "healthy (the default)",
    "error": "500",
    "hang": "never answers",
    "malformed": "200 with invalid JSON",
    "wrong-shape": "200 with valid JSON of the wrong shape",
    "flaky:N": "503 for the first N calls, then healthy",
    "429": "429 with Retry-After: MOCK_RETRY_AFTER_S",
    "slow-body": "headers at once, the body trickles over about 1 s",
    "huge": "a JSON body over 2 MiB, streamed",
    "reset": "half the body, then the connection is closed",
}
FAULT_NAMES = tuple(FAULT_EFFECTS)

_PLAIN_FAULTS: dict[str, Fault] = {
    "none": NoFault(),
    "error": ServerError(),
    "hang": Hang(),
    "malformed": Malformed(),
    "wrong-shape": WrongShape(),
    "slow-body": SlowBody(),
    "huge": Huge(),
    "reset": Reset(),
}


def parse_fault(text: str, *, retry_after_s: int) -> Fault:
    if text in _PLAIN_FAULTS:
        return _PLAIN_FAULTS[text]
    if text == "429":
        return TooManyRequests(retry_after_s)
    name, _, count = text.partition(":")
    if name == "flaky" and count.isdecimal() and int(count) > 0:
        return Flaky(int(count))
    raise MockConfigError(f"MOCK_FAULT={text!r} is not one of {', '.join(FAULT_NAMES)} (N a positive integer)")
