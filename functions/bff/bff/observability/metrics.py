"""CloudWatch metrics in EMF, namespace POWERTOOLS_METRICS_NAMESPACE, written directly as JSON lines.

Every invocation, whatever its status, is counted in one response document written by the handler wrapper
(`count_responses`); per-call and per-reason metrics carry their own dimensions, so each is printed as its own
document when it happens. Powertools' Metrics is not used: it holds one dimension set per document, and its
provider objects cost several times the JSON itself.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bff.observability.logging import SERVICE_NAME, logger

METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ProductBff"
METRICS_DISABLED = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in {"1", "true", "yes", "on"}
RESPONSE_DIMENSION_SETS = (("service", "FunctionVersion"), ("service", "FunctionVersion", "StatusClass"))
_INFO_OUTCOMES = frozenset({"fetched", "cancelled"})  # a cancelled hedge or loser is the normal end of a race


class Unit(StrEnum):
    COUNT = "Count"
    MILLISECONDS = "Milliseconds"


_ONE = (Unit.COUNT, 1)

type LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DownstreamCall:
    service: str
    outcome: str
    duration_ms: float
    status: int | None = None
    attempt: int = 1


@dataclass(slots=True)
class _Invocation:
    """What the app tells the handler wrapper about the answer it gave (the wrapper reads the status itself)."""

    degraded: bool = False


# Mangum runs the app in a task that copies this context, so the app writes into the wrapper's record.
_current_invocation: ContextVar[_Invocation | None] = ContextVar("bff_invocation", default=None)


@dataclass(slots=True)
class _Environment:
    cold: bool = True


_environment = _Environment()


def observe_downstream_call(call: DownstreamCall) -> None:
    """One log line and one EMF document (latency and count by service, and by service and outcome)."""
    fields = {
        "service": call.service,
        "status": call.status,
        "duration_ms": round(call.duration_ms, 1),
        "attempt": call.attempt,
        "outcome": call.outcome,
    }
    log = logger.info if call.outcome in _INFO_OUTCOMES else logger.warning
    log("downstream call", extra={"downstream": fields})
    _emit(
        {"service": call.service, "outcome": call.outcome},
        (("service", "outcome"), ("service",)),
        {"DownstreamLatency": (Unit.MILLISECONDS, call.duration_ms), "DownstreamCalls": (Unit.COUNT, 1)},
    )


def record_page(degraded: Sequence[tuple[str, str]]) -> None:
    """Marks this invocation's answer degraded (counted by the handler wrapper), and counts each degraded section
    by section and reason at once."""
    if degraded and (invocation := _current_invocation.get()) is not None:
        invocation.degraded = True
    for section, reason in degraded:
        _emit({"section": section, "reason": reason}, (("section", "reason"), ("reason",)), {"DegradedSections": _ONE})


CACHE_LOOKUP_DIMENSIONS = (("service", "Section", "Tier"),)
CACHE_ERROR_DIMENSIONS = (("service", "Tier", "Kind"),)


def record_cache_lookup(section: str, tier: str | None) -> None:
    """One section's fragment-cache lookup: a hit by the tier that had it (l1, l2), or a miss (Tier "none").
    One document per section: EMF holds one value per dimension, and each section is its own."""
    hit = tier is not None
    _emit(
        {"service": SERVICE_NAME, "Section": section, "Tier": tier or "none"},
        CACHE_LOOKUP_DIMENSIONS,
        {"CacheHits": (Unit.COUNT, 1 if hit else 0), "CacheMisses": (Unit.COUNT, 0 if hit else 1)},
    )


def record_cache_error(tier: str, kind: str) -> None:
    """A shared-cache (L2) read or write that failed, timed out or was throttled: it was a miss, not an error."""
    logger.warning("fragment cache error", extra={"cache": {"tier": tier, "kind": kind}})
    _emit({"service": SERVICE_NAME, "Tier": tier, "Kind": kind}, CACHE_ERROR_DIMENSIONS, {"CacheErrors": _ONE})


def record_response(status_class: str, *, degraded: bool, latency_ms: float, function_version: str) -> None:
    """The one response document of an invocation: by service and version, and by those and status class."""
    _emit(
        {"service": SERVICE_NAME, "FunctionVersion": function_version, "StatusClass": status_class},
        RESPONSE_DIMENSION_SETS,
        {
            "Responses": _ONE,
            "DegradedResponses": (Unit.COUNT, 1 if degraded else 0),
            "PageLatency": (Unit.MILLISECONDS, latency_ms),
        },
    )


def status_class_of(status: object) -> str:
    """ "2xx" … "5xx"; an answer without a usable status is a server failure."""
    if isinstance(status, int) and not isinstance(status, bool) and 200 <= status < 600:
        return f"{status // 100}xx"
    return "5xx"


def count_responses(handler: LambdaHandler) -> LambdaHandler:
    """Counts every invocation in one response document, and the first of the environment as a cold start.
    A handler that raises is counted as a 5xx before the error goes on to Lambda."""

    @functools.wraps(handler)
    def counted(event: dict[str, Any], context: Any) -> dict[str, Any]:
        _count_cold_start(context)
        invocation = _Invocation()
        token = _current_invocation.set(invocation)
        started = time.perf_counter()
        status_class = "5xx"
        try:
            response = handler(event, context)
            status_class = status_class_of(response.get("statusCode") if isinstance(response, dict) else None)
            return response
        finally:
            _current_invocation.reset(token)
            record_response(
                status_class,
                degraded=invocation.degraded,
                latency_ms=(time.perf_counter() - started) * 1000,
                function_version=function_version_of(context),
            )

    return counted


def function_version_of(context: Any) -> str:
    version = getattr(context, "function_version", None) or os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
    return str(version) if version else "$LATEST"


def _count_cold_start(context: Any) -> None:
    """Powertools' ColdStart metric, as it wrote it: by function name and service, once per environment."""
    if not _environment.cold:
        return
    _environment.cold = False
    function_name = str(getattr(context, "function_name", "") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))
    _emit(
        {"function_name": function_name, "service": SERVICE_NAME}, (("function_name", "service"),), {"ColdStart": _ONE}
    )


def _emit(
    fields: Mapping[str, str], dimension_sets: Sequence[Sequence[str]], values: Mapping[str, tuple[Unit, float]]
) -> None:
    """One EMF document, written directly: these are written on every downstream call."""
    if METRICS_DISABLED:
        return
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [list(dimensions) for dimensions in dimension_sets],
                    "Metrics": [{"Name": name, "Unit": unit.value} for name, (unit, _) in values.items()],
                }
            ],
        },
        **fields,
    }
    document.update((name, [float(amount)]) for name, (_, amount) in values.items())
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
