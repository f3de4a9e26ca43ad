"""What every use case knows of the request it serves, whatever the route."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bff.core.recording import NO_RECORDING, Recorder


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One request as the use cases see it, built once per request by the inbound edge (bff.api.deps).

    `headers` are the ones that travel downstream (bff.api.propagation): the correlation id, never the caller's
    Authorization, cookies or language; each call adds its own span's trace headers when tracing is on.
    `locale` is the caller's language as negotiated among the supported ones.
    `recorder` takes what the layers record for the request's one canonical log line (bff.core.recording).
    """

    headers: Mapping[str, str]
    correlation_id: str
    locale: str
    lambda_context: Any = None
    """The Lambda context object, or None outside Lambda (tests, uvicorn)."""
    recorder: Recorder = NO_RECORDING

    def lambda_remaining_ms(self) -> int | None:
        """The invocation's remaining time now (each call reads it again), or None outside Lambda."""
        remaining = getattr(self.lambda_context, "get_remaining_time_in_millis", None)
        return int(remaining()) if callable(remaining) else None
