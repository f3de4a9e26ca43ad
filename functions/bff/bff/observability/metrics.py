"""CloudWatch metrics in EMF, namespace POWERTOOLS_METRICS_NAMESPACE, written directly as JSON lines, and the
invocation's canonical log line.

Every invocation, whatever its status, writes one line: its EMF document, which is also its canonical log line
(EMF allows any property beside `_aws`: CloudWatch extracts the metrics and keeps the rest searchable in Logs
Insights). The handler wrapper (`count_responses`) creates the invocation's record (`InvocationRecord`), hands it to
the handler, which hands it to the app, and writes the line from it once the answer is ready. The layers that record
(routes, edge middleware, fragment cache, downstream client) receive it in the request's context
(bff.core.recording): no module state, so concurrent requests on one loop keep their own lines.
Per-service and per-section figures are metric NAMES in that one document (`ProductLatency`, `ReviewsMisses`,
`ReviewsDegraded`, `DegradedTimeout`…), not a dimension: EMF holds one value per dimension per document, and a
dimension per service would take a document per service. The cold start (`ColdStart`) and shared-cache errors
(`CacheErrors`) are counted in it too; only what runs outside an invocation (`OutsideInvocation`) writes lines of
its own.
Powertools' Metrics is not used: it holds one dimension set per document, and its provider objects cost several
times the JSON itself.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bff.core.recording import DownstreamCall, SectionReport
from bff.observability.correlation import CORRELATION_HEADER
from bff.observability.logging import SERVICE_NAME, bind_trace, logger
from bff.observability.redaction import might_hold_credentials, redact
from bff.observability.tracing import NO_TRACING, Span, Tracing

METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ProductBff"
METRICS_DISABLED = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in {"1", "true", "yes", "on"}
RESPONSE_DIMENSION_SETS = (("service", "FunctionVersion"), ("service", "FunctionVersion", "StatusClass"))
_NORMAL_OUTCOMES = frozenset({"fetched", "cancelled"})  # a cancelled hedge or loser is the normal end of a race
_TIER_NAMES = {"l1": "L1", "l2": "L2"}


class Unit(StrEnum):
    COUNT = "Count"
    MILLISECONDS = "Milliseconds"


_ONE = (Unit.COUNT, 1)

type LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
type RecordedHandler = Callable[[dict[str, Any], Any, InvocationRecord], dict[str, Any]]
"""A handler that answers an event and records into the invocation's record (bff.handler hands it to the app)."""
type MetricValues = dict[str, tuple[Unit, float | list[float]]]


@dataclass(slots=True)
class InvocationRecord:
    """One invocation's Recorder (bff.core.recording): what the app tells the handler wrapper about the answer (it
    reads the status itself). The wrapper creates it and hands it to the app explicitly (bff.handler puts it in the
    ASGI scope, bff.api.deps in the RequestContext), and writes the invocation's one line from it."""

    degraded: bool = False
    route: str | None = None
    calls: list[DownstreamCall] = field(default_factory=list)
    tiers: dict[str, str] = field(default_factory=dict)
    sections: dict[str, SectionReport] = field(default_factory=dict)
    degradations: list[tuple[str, str]] = field(default_factory=list)
    cache_errors: list[tuple[str, str]] = field(default_factory=list)
    fleet_transitions: list[tuple[str, str]] = field(default_factory=list)

    def record_call(self, call: DownstreamCall) -> None:
        """Kept for the canonical line and document; its own line only at DEBUG (sampled)."""
        self.calls.append(call)
        if logger.log_level <= logging.DEBUG:
            log_call(call)

    def record_cache_lookup(self, section: str, tier: str | None) -> None:
        """Counted as `<Section>L1Hits`, `<Section>L2Hits` or `<Section>Misses`."""
        self.tiers[section] = tier or "none"

    def record_cache_error(self, kind: str) -> None:
        """Counted in the line (`cache_errors`, `CacheErrors`, `CacheErrors<Kind>`), which it makes a WARNING."""
        self.cache_errors.append(("l2", kind))

    def record_sections(self, sections: Mapping[str, SectionReport]) -> None:
        self.sections.update(sections)

    def record_degradations(self, degraded: Sequence[tuple[str, str]]) -> None:
        """Marks the answer degraded; its sections are counted by section and by reason (`degradation_metrics`)."""
        if degraded:
            self.degraded = True
            self.degradations.extend(degraded)

    def note_route(self, template: str) -> None:
        self.route = template

    def record_fleet_transition(self, service: str, old: str, new: str) -> None:
        """Counted in the line (`fleet`, `FleetTransitions`, `Fleet<Service><State>`), which it makes a WARNING."""
        del old
        self.fleet_transitions.append((service, new))


class OutsideInvocation:
    """The Recorder of what runs outside an invocation (the init warm-up, an app served without the handler, such as
    uvicorn): there is no line to count in, so a shared-cache error is a warning and a document of its own, and
    degraded sections a document of their own; the rest is not kept."""

    __slots__ = ()

    def record_call(self, call: DownstreamCall) -> None:
        if logger.log_level <= logging.DEBUG:
            log_call(call)

    def record_cache_lookup(self, section: str, tier: str | None) -> None:
        del section, tier

    def record_cache_error(self, kind: str) -> None:
        logger.warning("fragment cache error", extra={"cache": {"tier": "l2", "kind": kind}})
        _emit({"service": SERVICE_NAME, "Tier": "l2", "Kind": kind}, CACHE_ERROR_DIMENSIONS, {"CacheErrors": _ONE})

    def record_sections(self, sections: Mapping[str, SectionReport]) -> None:
        del sections

    def record_degradations(self, degraded: Sequence[tuple[str, str]]) -> None:
        if degraded:
            _emit({"service": SERVICE_NAME}, (("service",),), degradation_metrics(degraded))

    def note_route(self, template: str) -> None:
        del template

    def record_fleet_transition(self, service: str, old: str, new: str) -> None:
        """Learnt outside an invocation (init, a SnapStart restore): one document of its own, a WARNING line."""
        fields = {"level": "WARNING", "message": "fleet breaker state changed", "fleet": [f"{service}:{new}"]}
        _emit({"service": SERVICE_NAME}, (("service",),), fleet_transition_metrics([(service, new)]), fields)
        del old


OUTSIDE_INVOCATION = OutsideInvocation()
"""The recorder of code outside an invocation, and of an app served without the handler (bff.api.deps)."""
CACHE_ERROR_DIMENSIONS = (("service", "Tier", "Kind"),)


@dataclass(slots=True)
class _Environment:
    cold: bool = True


_environment = _Environment()


def log_call(call: DownstreamCall) -> None:
    """A downstream call's own line, written at DEBUG only (sampled): the canonical line tells every call."""
    fields = {
        "service": call.service,
        "status": call.status,
        "duration_ms": round(call.duration_ms, 1),
        "attempt": call.attempt,
        "outcome": call.outcome,
    }
    logger.debug("downstream call", extra={"downstream": fields})


def degradation_metrics(degradations: Sequence[tuple[str, str]]) -> MetricValues:
    """How many sections were degraded, by section (`<Section>Degraded`) and by reason (`Degraded<Reason>`, e.g.
    `DegradedCircuitOpen`). Metric names, not dimensions: EMF holds one value per dimension per document, and a
    page with two degraded sections (or a batch with fifty) still writes one line."""
    return counts(
        (f"{metric_prefix(section)}Degraded", f"Degraded{metric_prefix(reason)}") for section, reason in degradations
    )


def fleet_transition_metrics(transitions: Sequence[tuple[str, str]]) -> MetricValues:
    """How many of the fleet's breaker states changed in this environment's copy (`FleetTransitions`), and by
    service and new state (`FleetReviewsOpen`, `FleetReviewsRamp`, `FleetReviewsClosed`): metric names, so that
    they fit in one document. Summed over the fleet, `Fleet<Service>Open` is about the number of environments that
    learnt of an opening."""
    return counts(
        ("FleetTransitions", f"Fleet{metric_prefix(service)}{metric_prefix(state)}") for service, state in transitions
    )


def cache_error_metrics(errors: Sequence[tuple[str, str]]) -> MetricValues:
    """How many shared-cache calls failed in the invocation (`CacheErrors`), and by kind (`CacheErrorsTimeout`,
    `CacheErrorsThrottled`…): metric names, so that they fit in the invocation's one document."""
    return counts(("CacheErrors", f"CacheErrors{metric_prefix(kind)}") for _tier, kind in errors)


def counts(names_per_event: Iterable[Iterable[str]]) -> MetricValues:
    """Each metric name's count over the events, every event counting once under each of its names."""
    tally = Counter(name for names in names_per_event for name in names)
    return {name: (Unit.COUNT, count) for name, count in tally.items()}


def metric_prefix(name: str) -> str:
    """`product` → `Product`, `gift-cards` → `GiftCards`: a service's or section's part of a metric name."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))


def invocation_metrics(invocation: InvocationRecord) -> MetricValues:
    """Per service: `<Service>Latency` (one value per attempt; its SampleCount counts the calls) and
    `<Service>Failures` when an attempt failed; per cached section, the cache lookup's count."""
    values: MetricValues = {}
    for call in invocation.calls:
        prefix = metric_prefix(call.service)
        latency = values.setdefault(f"{prefix}Latency", (Unit.MILLISECONDS, []))[1]
        assert isinstance(latency, list)
        latency.append(round(call.duration_ms, 1))
        if call.outcome not in _NORMAL_OUTCOMES:
            failures = values.get(f"{prefix}Failures", (Unit.COUNT, 0))[1]
            assert isinstance(failures, int | float)
            values[f"{prefix}Failures"] = (Unit.COUNT, failures + 1)
    for section, tier in invocation.tiers.items():
        kind = f"{_TIER_NAMES[tier]}Hits" if tier in _TIER_NAMES else "Misses"
        values[f"{metric_prefix(section)}{kind}"] = _ONE
    return values


def record_response(
    status_class: str,
    *,
    degraded: bool,
    latency_ms: float,
    function_version: str,
    extra: MetricValues | None = None,
    log_fields: Mapping[str, Any] | None = None,
    degradations: Sequence[tuple[str, str]] = (),
) -> None:
    """The one document of an invocation: by service and version, and by those and status class; with
    `log_fields`, it is the invocation's canonical log line as well (bff.observability.metrics's docstring).
    Its degraded sections are counted in it too (`degradation_metrics`)."""
    _emit(
        {"service": SERVICE_NAME, "FunctionVersion": function_version, "StatusClass": status_class},
        RESPONSE_DIMENSION_SETS,
        {
            "Responses": _ONE,
            "DegradedResponses": (Unit.COUNT, 1 if degraded else 0),
            "PageLatency": (Unit.MILLISECONDS, round(latency_ms, 1)),
            **(extra or {}),
            **degradation_metrics(degradations),
        },
        log_fields,
    )


def status_class_of(status: object) -> str:
    """ "2xx" … "5xx"; an answer without a usable status is a server failure."""
    if isinstance(status, int) and not isinstance(status, bool) and 200 <= status < 600:
        return f"{status // 100}xx"
    return "5xx"


def count_responses(handler: RecordedHandler, tracing: Tracing = NO_TRACING) -> LambdaHandler:
    """Writes every invocation's canonical log line and its one document, and counts the first of the environment
    as a cold start. A handler that raises is a 5xx before the error goes on to Lambda. The invocation is the
    SERVER span of `tracing`; its spans are exported once the answer is complete (bff.observability.otel)."""

    @functools.wraps(handler)
    def counted(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            with tracing.invocation(event) as span:
                return _counted(handler, event, context, span)
        finally:
            tracing.export()

    return counted


def _counted(handler: RecordedHandler, event: dict[str, Any], context: Any, span: Span) -> dict[str, Any]:
    cold_start = _first_in_environment()
    started = time.perf_counter()
    status: int | None = None
    response: object = None
    ids = span.ids()
    bind_trace(ids)
    invocation = InvocationRecord()
    try:
        response = handler(event, context, invocation)
        answered = response.get("statusCode") if isinstance(response, dict) else None
        status = answered if isinstance(answered, int) and not isinstance(answered, bool) else None
        return response
    finally:
        latency_ms = (time.perf_counter() - started) * 1000
        status_class = status_class_of(status)
        correlation_id = _correlation_id_of(response) or logger.get_correlation_id()
        describe_server_span(span, invocation, event, status, correlation_id)
        record_response(
            status_class,
            degraded=invocation.degraded,
            latency_ms=latency_ms,
            function_version=function_version_of(context),
            extra={
                **invocation_metrics(invocation),
                **cache_error_metrics(invocation.cache_errors),
                **fleet_transition_metrics(invocation.fleet_transitions),
                **({"ColdStart": _ONE} if cold_start else {}),
            },
            log_fields=canonical_fields(
                invocation, event, status, status_class, correlation_id=correlation_id, trace_ids=ids
            ),
            degradations=invocation.degradations,
        )


def describe_server_span(
    span: Span, invocation: InvocationRecord, event: object, status: int | None, correlation_id: str | None
) -> None:
    """HTTP semantic conventions on the invocation's span: `{method} {route}`, the route, the status (a 5xx is an
    error), and the correlation id."""
    method, path = _method_and_path(event)
    if invocation.route is not None:
        span.rename(f"{method or 'HTTP'} {invocation.route}")
        span.set("http.route", invocation.route)
    span.set("url.path", path)
    span.set("http.response.status_code", status)
    span.set("bff.correlation_id", correlation_id)
    if invocation.degraded:
        span.set("bff.degraded", True)
    if status is None or status >= 500:
        span.fail(str(status) if status is not None else "no status")


def _correlation_id_of(response: object) -> str | None:
    headers = response.get("headers") if isinstance(response, dict) else None
    value = headers.get(CORRELATION_HEADER) if isinstance(headers, dict) else None
    return value if isinstance(value, str) else None


def canonical_fields(
    invocation: InvocationRecord,
    event: object,
    status: int | None,
    status_class: str,
    *,
    correlation_id: str | None = None,
    trace_ids: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The request's log fields, written in its EMF document (a "canonical log line"): INFO, WARNING when
    degraded, ERROR for a 5xx. Nothing the Lambda platform's own lines or the metrics beside them already say:
    no timestamp, function name, cold start or duration (PageLatency, `<Service>Latency`), and a section only when
    it was not one plain fetch (cached, stale, failed, retried; its metrics tell the rest)."""
    method, path = _method_and_path(event)
    warned = invocation.degraded or invocation.cache_errors or invocation.fleet_transitions
    level = "ERROR" if status_class == "5xx" else "WARNING" if warned else "INFO"
    fields: dict[str, Any] = {"level": level}
    if correlation_id is not None:
        fields["correlation_id"] = correlation_id
    if trace_ids is not None:
        fields["trace_id"], fields["span_id"] = trace_ids
    fields.update({"route": invocation.route or path, "method": method, "status": status})
    if invocation.cache_errors:
        fields["cache_errors"] = [f"{tier}:{kind}" for tier, kind in invocation.cache_errors]
    if invocation.fleet_transitions:
        fields["fleet"] = [f"{service}:{state}" for service, state in invocation.fleet_transitions]
    if sections := _section_fields(invocation):
        fields["sections"] = sections  # a degraded one says why; the document counts it by section and reason
    return fields


def _section_fields(invocation: InvocationRecord) -> dict[str, dict[str, Any]]:
    """Each section the page had (and each service called outside one): how it ended, the calls it took, and how
    the fragment cache answered it. Absent fields are left out: a healthy page's line stays short."""
    calls: dict[str, list[DownstreamCall]] = {}
    for call in invocation.calls:
        calls.setdefault(call.service, []).append(call)
    reports = dict(invocation.sections)
    for service, service_calls in calls.items():
        if not any(report.service == service for report in reports.values()):
            last = service_calls[-1]
            reason = None if last.outcome in _NORMAL_OUTCOMES else last.outcome
            reports[service] = SectionReport(service, sum(call.duration_ms for call in service_calls), reason=reason)
    described = {
        name: _section_field(name, report, calls.get(report.service, []), invocation)
        for name, report in reports.items()
    }
    return {name: fields for name, fields in described.items() if not _is_plain_fetch(fields)}


def _is_plain_fetch(fields: Mapping[str, Any]) -> bool:
    """One attempt that fetched a 200 and missed the cache (or took none), or a fresh cache hit: the document's
    `<Service>Latency` and `<Section>Misses`, or `<Section>L1Hits` / `L2Hits`, already say so."""
    if fields.get("outcome") == "cached":
        return set(fields) <= {"outcome", "duration_ms", "tier"}
    return (
        set(fields) <= {"outcome", "status", "attempts", "duration_ms", "cache"}
        and fields.get("outcome") == "fetched"
        and fields.get("status", 200) == 200
        and fields.get("attempts", 1) == 1
        and fields.get("cache", "miss") == "miss"
    )


def _section_field(
    name: str, report: SectionReport, calls: Sequence[DownstreamCall], invocation: InvocationRecord
) -> dict[str, Any]:
    fields: dict[str, Any] = {} if report.service == name else {"service": report.service}
    fields["outcome"] = _outcome_of(report)
    if report.reason is not None:
        fields["reason"] = report.reason
    statuses = [call.status for call in calls if call.status is not None]
    if statuses:
        fields["status"] = statuses[-1]
    if calls:  # none: the cache answered
        fields["attempts"] = len(calls)
    fields["duration_ms"] = round(report.duration_ms, 1)
    if report.cache == "miss":  # "hit" and "stale" are what the outcomes "cached" and "stale" say already
        fields["cache"] = report.cache
    if invocation.tiers.get(name, "none") != "none":
        fields["tier"] = invocation.tiers[name]
    return fields


def _outcome_of(report: SectionReport) -> str:
    if report.cache == "stale":
        return "stale"
    if report.reason is not None:
        return "failed"
    return "cached" if report.cache == "hit" else "fetched"


def _method_and_path(event: object) -> tuple[str | None, str | None]:
    """From an API Gateway event (HTTP API v2 or REST v1); None where the event has none (the guard's answers)."""
    if not isinstance(event, dict):
        return None, None
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    method = http.get("method") if isinstance(http, dict) else event.get("httpMethod")
    path = event.get("rawPath") or event.get("path")
    return (method if isinstance(method, str) else None), (path if isinstance(path, str) else None)


def function_version_of(context: Any) -> str:
    version = getattr(context, "function_version", None) or os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
    return str(version) if version else "$LATEST"


def _first_in_environment() -> bool:
    """True for the environment's first invocation only: its document counts `ColdStart` (by service and version,
    like every response), so a cold start writes no line of its own."""
    cold, _environment.cold = _environment.cold, False
    return cold


def _definition(name: str, unit: Unit) -> dict[str, str]:
    """A metric is written without its unit (CloudWatch's "None"): statistics and alarms are the same, every
    `*Latency` is in milliseconds, and the four units of a page's latencies took 88 of the line's bytes."""
    del unit
    return {"Name": name}


def _emit(
    fields: Mapping[str, str],
    dimension_sets: Sequence[Sequence[str]],
    values: Mapping[str, tuple[Unit, float | list[float]]],
    log_fields: Mapping[str, Any] | None = None,
) -> None:
    """One EMF document, written directly; `log_fields` go in front of it (with metrics disabled, they are written
    alone). A line that might name a credential (a raw path of a route that did not match) is redacted."""
    document: dict[str, Any] = dict(log_fields or {})
    if not METRICS_DISABLED:
        document["_aws"] = {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [list(dimensions) for dimensions in dimension_sets],
                    "Metrics": [_definition(name, unit) for name, (unit, _) in values.items()],
                }
            ],
        }
        document.update(fields)
        document.update(
            (name, amount if isinstance(amount, list) else [amount]) for name, (_, amount) in values.items()
        )
    if not document:
        return
    line = json.dumps(document, separators=(",", ":"))
    if log_fields and might_hold_credentials(line):
        line = json.dumps(redact(document), separators=(",", ":"))
    sys.stdout.write(line + "\n")
