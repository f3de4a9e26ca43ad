"""OpenTelemetry behind bff.observability.tracing, imported only when tracing is on.

Configured from OpenTelemetry's own variables: the SDK reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG and the OTEL_EXPORTER_OTLP_* ones; OTEL_PROPAGATORS is read here
(default `tracecontext,xray-lambda`), from the four propagators the layer ships, so no entry points are scanned.

Propagation: `tracecontext` continues a caller's W3C `traceparent`; without one, `xray-lambda` joins the trace
Lambda started (the `_X_AMZN_TRACE_ID` variable, under active tracing), so the X-Ray console shows the whole
request. The event's headers are read lower-cased, so the X-Ray propagators never take an `X-Amzn-Trace-Id` header
from the caller (API Gateway adds its own); only Lambda's variable speaks for X-Ray.

Export: spans leave through OTLP/HTTP (protobuf). The SDK's BatchSpanProcessor would export from a thread of its
own, at times of its choosing: in Lambda that thread is frozen between invocations and its batch lost when the
environment ends. Here the invocation's sampled spans are kept and sent in one request when the invocation has
finished its answer (`export`), bounded by the exporter's timeout (OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, or
EXPORT_TIMEOUT_S). In AWS (template parameter TraceExport) that request goes either to the collector extension on
127.0.0.1, which answers at once and sends the batch on to X-Ray or another backend after the response, as
Lambda extensions may, so no invocation waits on a backend; or straight to X-Ray's OTLP endpoint, SigV4-signed,
where a sampled invocation waits for that one request, within the bound.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator, AwsXRayPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bff.observability.logging import SERVICE_NAME, logger
from bff.observability.tracing import AttributeValue

EXPORT_TIMEOUT_S = 0.5
"""The most one export may take when no OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT says otherwise; to the collector
extension on loopback an export takes about a millisecond."""
MAX_SPANS_PER_EXPORT = 512
DEFAULT_PROPAGATORS = "tracecontext,xray-lambda"
_PROPAGATORS: dict[str, type[TextMapPropagator]] = {
    "tracecontext": TraceContextTextMapPropagator,
    "baggage": W3CBaggagePropagator,
    "xray": AwsXRayPropagator,
    "xray-lambda": AwsXRayLambdaPropagator,
}
_TRACER_NAME = "bff"
# X-Ray's OTLP endpoint (https://xray.REGION.amazonaws.com/v1/traces) takes SigV4-signed requests only.
_XRAY_OTLP = re.compile(r"https://xray\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?(/.*)?")
_SIGNATURE_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")


class XRaySigV4(requests.auth.AuthBase):
    """Signs each export to X-Ray's OTLP endpoint (service `xray`) with the execution role's credentials, which
    botocore refreshes when they expire (botocore comes with the Lambda runtime, imported only in this mode).
    Ours, not bff.downstream.signing's: the inbound and outbound edges must not depend on each other through here.
    """

    def __init__(self, region: str, credentials: Any | None = None) -> None:
        self._region = region
        self._given = credentials
        self._credentials = credentials if credentials is not None else _session_credentials()

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415

        url = prepared.url or ""
        signed = AWSRequest(method=prepared.method, url=url, headers={"host": urlsplit(url).netloc}, data=prepared.body)
        SigV4Auth(self._credentials.get_frozen_credentials(), "xray", self._region).add_auth(signed)
        for name in _SIGNATURE_HEADERS:
            if name in signed.headers:
                prepared.headers[name] = signed.headers[name]
        return prepared

    def reload_credentials(self) -> None:
        """Reads the execution role's credentials again (after a SnapStart restore); given ones are kept."""
        if self._given is None:
            self._credentials = _session_credentials()


def _session_credentials() -> Any:
    from botocore.session import get_session  # noqa: PLC0415

    return get_session().get_credentials()


def traces_endpoint(environ: Mapping[str, str]) -> str:
    """Where spans go, as the exporter resolves it: the traces endpoint, else the base endpoint's /v1/traces."""
    if endpoint := environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return endpoint
    return environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip().rstrip("/") + "/v1/traces"


def xray_auth_for(endpoint: str) -> XRaySigV4 | None:
    """SigV4 when the endpoint is X-Ray's OTLP endpoint; botocore is imported only then."""
    match = _XRAY_OTLP.fullmatch(endpoint)
    return XRaySigV4(match["region"]) if match else None


class OtelSpan:
    """One OpenTelemetry span; made the current span while its `with` block runs when `current` is set."""

    __slots__ = ("_current", "_propagator", "_span", "_token")

    def __init__(self, span: trace.Span, propagator: TextMapPropagator, *, current: bool, base: Context | None = None):
        self._span = span
        self._propagator = propagator
        self._current: Context | None = trace.set_span_in_context(span, base) if current else None
        self._token: object | None = None

    def set(self, key: str, value: AttributeValue | None) -> None:
        if value is not None:
            self._span.set_attribute(key, value)

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    def fail(self, reason: str) -> None:
        self._span.set_attribute("error.type", reason)
        self._span.set_status(Status(StatusCode.ERROR, reason))

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """This span's `traceparent` (and whatever else the propagators carry) into a call's headers."""
        self._propagator.inject(headers, context=self._current or trace.set_span_in_context(self._span))

    def ids(self) -> tuple[str, str] | None:
        context = self._span.get_span_context()
        return format_trace_id(context.trace_id), format_span_id(context.span_id)

    def __enter__(self) -> Self:
        if self._current is not None:
            self._token = otel_context.attach(self._current)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if isinstance(error, asyncio.CancelledError):
            self._span.set_attribute("bff.cancelled", True)
        elif error is not None:
            self._span.record_exception(error)
            self.fail(type(error).__name__)
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
        self._span.end()


class InvocationBatch(SpanProcessor):
    """Keeps the sampled spans that ended during an invocation and sends them in one request when told."""

    def __init__(self, exporter: SpanExporter, max_spans: int = MAX_SPANS_PER_EXPORT) -> None:
        self._exporter = exporter
        self._max_spans = max_spans
        self._spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is not None and context.trace_flags.sampled and len(self._spans) < self._max_spans:
            self._spans.append(span)

    def export(self) -> None:
        """Sends what ended since the last export; a failed export is logged and dropped, never raised."""
        if not self._spans:
            return
        spans, self._spans = self._spans, []
        try:
            self._exporter.export(spans)
        except Exception as error:
            logger.warning("span export failed", extra={"error": type(error).__name__, "spans": len(spans)})

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.export()
        return True

    def shutdown(self) -> None:
        self._exporter.shutdown()


class OtelTracing:
    """bff.observability.tracing's Tracing, with an SDK tracer provider of its own (never the global one)."""

    enabled = True

    def __init__(
        self,
        provider: TracerProvider,
        batch: InvocationBatch,
        propagator: TextMapPropagator,
        session: requests.Session | None = None,
    ) -> None:
        self.provider = provider
        self._batch = batch
        self._tracer = provider.get_tracer(_TRACER_NAME)
        self._propagator = propagator
        self._session = session

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], exporter: SpanExporter | None = None) -> OtelTracing:
        """From OpenTelemetry's variables; `exporter` replaces OTLP/HTTP (tests)."""
        session = None
        if exporter is None:
            session = requests.Session()
            session.auth = xray_auth_for(traces_endpoint(environ))
            has_timeout = environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or environ.get("OTEL_EXPORTER_OTLP_TIMEOUT")
            exporter = OTLPSpanExporter(session=session, timeout=None if has_timeout else EXPORT_TIMEOUT_S)
        # The exporter logs each failed export at ERROR, with retries; InvocationBatch's one warning says it instead.
        logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)
        batch = InvocationBatch(exporter)
        provider = TracerProvider(resource=_resource(environ), sampler=edge_sampler(environ))
        provider.add_span_processor(batch)
        return cls(provider, batch, propagator_from(environ.get("OTEL_PROPAGATORS")), session)

    def invocation(self, event: object) -> OtelSpan:
        """The SERVER span of one invocation, under the trace its headers (or Lambda) name."""
        parent = self._propagator.extract(_headers_of(event))
        method = _method_of(event)
        span = self._tracer.start_span(
            method or "invocation",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method} if method else None,
        )
        return OtelSpan(span, self._propagator, current=True, base=parent)

    def section(self, name: str, service: str) -> OtelSpan:
        span = self._tracer.start_span(f"section {name}", attributes={"bff.section": name, "bff.service": service})
        return OtelSpan(span, self._propagator, current=True)

    def client(self, service: str, method: str, url: str, *, attempt: int, hedge: bool) -> OtelSpan:
        attributes: dict[str, AttributeValue] = {
            "http.request.method": method,
            "url.full": url,
            "peer.service": service,
            "bff.attempt": attempt,
        }
        if hedge:
            attributes["bff.hedge"] = True
        elif attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        span = self._tracer.start_span(f"{method} {service}", kind=SpanKind.CLIENT, attributes=attributes)
        return OtelSpan(span, self._propagator, current=False)

    def store(self, system: str, operation: str, target: str) -> OtelSpan:
        span = self._tracer.start_span(
            f"{operation} {target}",
            kind=SpanKind.CLIENT,
            attributes={"db.system.name": system, "db.operation.name": operation, "db.collection.name": target},
        )
        return OtelSpan(span, self._propagator, current=False)

    def export(self) -> None:
        self._batch.export()

    def disconnect(self) -> None:
        """Closes the exporter's pooled connection (it reopens on the next export): before a SnapStart snapshot,
        so that none is in it, and after a restore, where the snapshot's socket is dead; X-Ray's signer reads the
        credentials again (a restored environment's are not the snapshot's)."""
        if self._session is not None:
            self._session.close()
            if isinstance(self._session.auth, XRaySigV4):
                self._session.auth.reload_credentials()


def propagator_from(names: str | None) -> TextMapPropagator:
    """OTEL_PROPAGATORS, comma-separated, of the propagators the layer ships; `none` turns propagation off."""
    chosen: list[TextMapPropagator] = []
    for name in (names or DEFAULT_PROPAGATORS).split(","):
        name = name.strip().lower()  # noqa: PLW2901
        if name in {"", "none"}:
            continue
        if (propagator := _PROPAGATORS.get(name)) is None:
            logger.warning("unknown propagator in OTEL_PROPAGATORS; ignored", extra={"propagator": name})
            continue
        chosen.append(propagator())
    return CompositePropagator(chosen)


def edge_sampler(environ: Mapping[str, str]) -> Sampler:
    """OTEL_TRACES_SAMPLER / _ARG, except that a remote parent's sampled flag decides nothing.

    The BFF is the edge: a caller's `traceparent` is continued (same trace id, its span as parent) but its flag is
    the caller's to set, so honouring it would let anyone make every invocation export its spans (latency, backend
    cost). The `parentbased_*` samplers therefore apply their root sampler to remote parents too; spans under the
    BFF's own spans follow their parent, as usual. The default (`parentbased_always_on`) samples everything either way.
    """
    name = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    root = _root_sampler(name.removeprefix("parentbased_"), environ.get("OTEL_TRACES_SAMPLER_ARG"))
    if not name.startswith("parentbased_"):
        return root
    return ParentBased(root, remote_parent_sampled=root, remote_parent_not_sampled=root)


def _root_sampler(name: str, argument: str | None) -> Sampler:
    match name:
        case "always_off":
            return ALWAYS_OFF
        case "traceidratio":
            try:
                ratio = float(argument) if argument is not None else 1.0
            except ValueError:
                ratio = 1.0
            return TraceIdRatioBased(min(max(ratio, 0.0), 1.0))
        case _:
            return ALWAYS_ON


def _resource(environ: Mapping[str, str]) -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the SDK), else the Powertools service name; the
    Lambda function's name, version and region when in Lambda."""
    attributes: dict[str, str] = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    if function_name := environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        attributes.update({"cloud.provider": "aws", "cloud.platform": "aws_lambda", "faas.name": function_name})
    if version := environ.get("AWS_LAMBDA_FUNCTION_VERSION"):
        attributes["faas.version"] = version
    if region := environ.get("AWS_REGION"):
        attributes["cloud.region"] = region
    return Resource.create(attributes)


def _headers_of(event: object) -> dict[str, str]:
    """An API Gateway event's headers, names lower-cased; none when the event has no usable headers."""
    headers = event.get("headers") if isinstance(event, dict) else None
    if not isinstance(headers, dict):
        return {}
    return {str(name).lower(): value for name, value in headers.items() if isinstance(value, str)}


def _method_of(event: object) -> str | None:
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    method = http.get("method") if isinstance(http, dict) else event.get("httpMethod")
    return method if isinstance(method, str) else None
