"""The mock's configuration, read once from MOCK_* environment variables when the mock starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mockkit.faults import Fault, MockConfigError, NoFault, parse_fault

DEFAULT_RETRY_AFTER_S = 1

# The variables a mock reads when it starts; `python -m mockkit faults` (and so `make help`) prints them.
MOCK_VARIABLES: dict[str, str] = {
    "MOCK_FAULT": "the fault every call meets (values below)",
    "MOCK_LATENCY_MS": "delay before each answer, in place of the service's default",
    "MOCK_ERROR_RATE": "share of calls answered 503, 0 to 1",
    "MOCK_SEED": "seed that makes MOCK_ERROR_RATE repeatable",
    "MOCK_RETRY_AFTER_S": f"Retry-After of the 429 fault (default {DEFAULT_RETRY_AFTER_S})",
}


@dataclass(frozen=True, slots=True)
class MockConfig:
    latency_ms: int
    fault: Fault = field(default_factory=NoFault)
    error_rate: float = 0.0
    seed: int | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, default_latency_ms: int) -> MockConfig:
        """Empty values count as unset, so a deployment template can pass "" for "use the default"."""
        latency_ms = _non_negative_int(environ, "MOCK_LATENCY_MS")
        retry_after_s = _non_negative_int(environ, "MOCK_RETRY_AFTER_S")
        return cls(
            latency_ms=default_latency_ms if latency_ms is None else latency_ms,
            fault=parse_fault(
                environ.get("MOCK_FAULT") or "none",
                retry_after_s=DEFAULT_RETRY_AFTER_S if retry_after_s is None else retry_after_s,
            ),
            error_rate=_rate(environ, "MOCK_ERROR_RATE"),
            seed=_int(environ, "MOCK_SEED"),
        )


def _int(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise MockConfigError(f"{name}={text!r} is not an integer") from None


def _non_negative_int(environ: Mapping[str, str], name: str) -> int | None:
    value = _int(environ, name)
    if value is not None and value < 0:
        raise MockConfigError(f"{name}={value} must not be negative")
    return value


def _rate(environ: Mapping[str, str], name: str) -> float:
    text = environ.get(name)
    if not text:
        return 0.0
    try:
        rate = float(text)
    except ValueError:
        raise MockConfigError(f"{name}={text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:  # also rejects NaN
        raise MockConfigError(f"{name}={text!r} must be between 0 and 1")
    return rate
