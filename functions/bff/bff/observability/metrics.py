"""CloudWatch metrics in EMF, namespace POWERTOOLS_METRICS_NAMESPACE.

Page metrics accumulate during the request and are flushed by the handler wrapper; per-call and per-reason
metrics carry their own dimensions, so each is printed as its own EMF document when it happens.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from bff.observability.logging import SERVICE_NAME, logger

METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ProductBff"
METRICS_DISABLED = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in {"1", "true", "yes", "on"}

metrics = Metrics(service=SERVICE_NAME, namespace=METRICS_NAMESPACE)


@dataclass(frozen=True, slots=True)
class DownstreamCall:
    service: str
    outcome: str
    duration_ms: float
    status: int | None = None
    attempt: int = 1


def observe_downstream_call(call: DownstreamCall) -> None:
    """One log line and one EMF document (latency and count by service, and by service and outcome)."""
    fields = {
        "service": call.service,
        "status": call.status,
        "duration_ms": round(call.duration_ms, 1),
        "attempt": call.attempt,
        "outcome": call.outcome,
    }
    log = logger.info if call.outcome == "fetched" else logger.warning
    log("downstream call", extra={"downstream": fields})
    _emit(
        {"service": call.service, "outcome": call.outcome},
        rollup={"service": call.service},
        values={
            "DownstreamLatency": (MetricUnit.Milliseconds, call.duration_ms),
            "DownstreamCalls": (MetricUnit.Count, 1),
        },
    )


def record_page(status: int, degraded: Sequence[tuple[str, str]]) -> None:
    """Page-level counts (flushed by the handler wrapper), and each degraded section by section and reason."""
    metrics.add_metric(name="Responses", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="DegradedResponses", unit=MetricUnit.Count, value=1 if degraded else 0)
    metrics.add_metric(name="FailedResponses", unit=MetricUnit.Count, value=1 if status >= 500 else 0)
    for section, reason in degraded:
        _emit(
            {"section": section, "reason": reason},
            rollup={"reason": reason},
            values={"DegradedSections": (MetricUnit.Count, 1)},
        )


def _emit(
    dimensions: Mapping[str, str], *, rollup: Mapping[str, str], values: Mapping[str, tuple[MetricUnit, float]]
) -> None:
    """One EMF document written directly: Powertools' provider objects cost several times the JSON itself, and
    these documents are written on every downstream call."""
    if METRICS_DISABLED:
        return
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [list(dimensions), list(rollup)],
                    "Metrics": [{"Name": name, "Unit": unit.value} for name, (unit, _) in values.items()],
                }
            ],
        },
        **dimensions,
        **rollup,
    }
    document.update((name, [float(amount)]) for name, (_, amount) in values.items())
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
