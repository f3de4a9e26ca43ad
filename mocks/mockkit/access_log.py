"""One JSON line per request on stdout, in a shape tests and log queries can rely on."""

from __future__ import annotations

import json
import sys
from typing import Literal

from mockkit.request import MockRequest

type Outcome = Literal["response", "disconnect", "reset"]


def log_request(service: str, request: MockRequest, *, event: Outcome, status: int | None, duration_ms: float) -> None:
    line = json.dumps(
        {
            "service": service,
            "event": event,
            "method": request.method,
            "path": request.path,
            "status": status,
            "correlation_id": request.correlation_id,
            "traceparent": request.traceparent,
            "duration_ms": round(duration_ms, 1),
        },
        separators=(",", ":"),
    )
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
