"""Logs, metrics and traces of the read path, configured by the Powertools environment variables.

- Logger: JSON on stdout, service from POWERTOOLS_SERVICE_NAME, Lambda context and cold start per invocation,
  the request's correlation id and trace id on every line, credentials redacted (bff.redaction).
- Metrics: CloudWatch EMF in POWERTOOLS_METRICS_NAMESPACE. Page metrics accumulate during the request and are
  flushed by the handler wrapper; per-call and per-reason metrics carry their own dimensions, so each is
  printed as its own EMF document when it happens.
- Tracer: X-Ray only when tracing is on (in Lambda, POWERTOOLS_TRACE_DISABLED not true, a daemon address);
  otherwise the X-Ray SDK is never imported, which keeps about 130 ms off the cold start.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_lambda_powertools.metrics import MetricUnit

from bff.redaction import might_hold_credentials, redact
from bff.trace_context import TraceContext

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME") or "product-bff"
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ProductBff"
METRICS_DISABLED = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in {"1", "true", "yes", "on"}

type LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
type AnnotationValue = str | int | float | bool


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: LogRecord) -> str:
        line = super().serialize(log=log)
        # Most lines name no credential at all; only those pay for the walk through the record.
        if might_hold_credentials(line):
            return super().serialize(log=redact(log))
        return line


def tracing_enabled(environ: Mapping[str, str]) -> bool:
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    in_lambda = bool(environ.get("LAMBDA_TASK_ROOT")) and not environ.get("AWS_SAM_LOCAL")
    return in_lambda and bool(environ.get("AWS_XRAY_DAEMON_ADDRESS"))


# Every line carries the correlation and trace ids; thread, process and asyncio task names would add noise
# ("taskName": "Task-5") and a lookup per record.
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False
logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # (3.12+, not yet in typeshed)


def _message_as_written(message: Any) -> Any:
    return message


# Powertools tries json.loads on every message by default; ours are plain text, and the failed parse (an
# exception per line) cost more than the rest of the formatting.
logger = Logger(service=SERVICE_NAME, logger_formatter=RedactingFormatter(json_deserializer=_message_as_written))
metrics = Metrics(service=SERVICE_NAME, namespace=METRICS_NAMESPACE)


def _tracer_from_environment() -> Tracer | None:
    if not tracing_enabled(os.environ):
        return None
    try:
        # auto_patch=False: the SDK's httpx/botocore patches open stack-based subsegments, which interleave
        # under a concurrent fan-out; downstream calls get explicit sibling subsegments instead.
        return Tracer(service=SERVICE_NAME, auto_patch=False)
    except ImportError:
        logger.warning("tracing is on but aws-xray-sdk is not installed; continuing without traces")
        return None


tracer = _tracer_from_environment()


def instrument_handler(handler: LambdaHandler) -> LambdaHandler:
    """Logger outermost, so every line (the metrics flush's included) carries the Lambda context; then the
    X-Ray handler subsegment; metrics innermost, flushed (cold start included) when the handler returns."""
    wrapped: LambdaHandler = metrics.log_metrics(handler, capture_cold_start_metric=True)
    if tracer is not None:
        wrapped = cast(LambdaHandler, tracer.capture_lambda_handler(wrapped, capture_response=False))
    instrumented: LambdaHandler = logger.inject_lambda_context(
        wrapped, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )

    def entry(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if all(hasattr(context, name) for name in _LAMBDA_CONTEXT_ATTRIBUTES):
            return instrumented(event, context)
        # A caller without a Lambda context (a test, a script) still gets an answer and a metrics flush.
        try:
            return handler(event, context)
        finally:
            metrics.flush_metrics()

    return entry


_LAMBDA_CONTEXT_ATTRIBUTES = ("function_name", "memory_limit_in_mb", "invoked_function_arn", "aws_request_id")


def bind_request(correlation_id: str, trace: TraceContext) -> None:
    """Ties the following log lines to this request (the Lambda wrapper clears them on the next one)."""
    logger.set_correlation_id(correlation_id)
    logger.append_keys(trace_id=trace.trace_id)


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


class Span(Protocol):
    def put_annotation(self, key: str, value: AnnotationValue) -> None: ...


class _NoSpan:
    """A span that records nothing, and its own context manager: one shared instance, no generator per call."""

    def put_annotation(self, key: str, value: AnnotationValue) -> None:
        pass

    async def __aenter__(self) -> Span:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


_NO_SPAN = _NoSpan()


class Tracing:
    """Downstream spans as sibling X-Ray subsegments, or no-ops without a recorder.

    Not `recorder.in_subsegment_async`: in Lambda the SDK keeps open subsegments on one thread-local stack,
    so with calls running concurrently the second becomes the child of the first and whichever call ends
    first closes the other's subsegment. Each span here is attached to the entity that was current when it
    started, and closed by itself."""

    def __init__(self, recorder: Any | None) -> None:
        self._recorder = recorder

    def downstream_span(self, service: str) -> AbstractAsyncContextManager[Span]:
        if self._recorder is None:
            return _NO_SPAN
        return _sibling_subsegment(self._recorder, service)


@asynccontextmanager
async def _sibling_subsegment(recorder: Any, service: str) -> AsyncIterator[Span]:
    from aws_xray_sdk.core.models.subsegment import Subsegment  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: PLC0415

    parent = recorder.current_subsegment() or recorder.current_segment()
    if not getattr(parent, "sampled", False):
        yield _NO_SPAN
        return
    segment = getattr(parent, "parent_segment", parent)
    subsegment = Subsegment(f"## {service}", "remote", segment)
    parent.add_subsegment(subsegment)
    subsegment.put_annotation("service", service)
    try:
        yield cast(Span, subsegment)
    except BaseException as error:
        subsegment.add_exception(error, traceback.extract_tb(error.__traceback__), remote=True)
        raise
    finally:
        subsegment.close()
        recorder.stream_subsegments()


tracing = Tracing(tracer.provider if tracer is not None else None)
downstream_span = tracing.downstream_span
