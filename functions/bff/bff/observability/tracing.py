"""Tracing, on exactly when an OTLP endpoint is set and the SDK is not disabled (OpenTelemetry's own variables:
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SDK_DISABLED), in Lambda, `make dev` and
tests alike.

Off, nothing of OpenTelemetry is imported (the SDK, the exporter and `requests` cost tens of milliseconds of cold
start) and every span is one shared object that records nothing. On, bff.observability.otel does the work.

The spans, all from one `Tracing`:
- `invocation`: the SERVER span of one Lambda invocation, continuing the caller's trace (or Lambda's);
- `section`: one span per page section, inside the section's own task, so its calls are its children;
- `client`: one CLIENT span per downstream attempt (a retry or a hedge is an attempt of its own); the call
  carries that span's `traceparent`;
- `store`: one CLIENT span per call to a store (the shared cache, the idempotency table, SSM).
Concurrent sections and attempts run in tasks of their own, each with a copy of the context, so they are
siblings, never nested in one another.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import Any, Protocol, Self

type AttributeValue = str | int | float | bool

_TRUE = frozenset({"1", "true", "yes", "on"})
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def tracing_enabled(environ: Mapping[str, str]) -> bool:
    """An OTLP endpoint is set and OTEL_SDK_DISABLED is not true."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


class Span(Protocol):
    """One span's handle: attributes, the ids a log line cites, and the headers that continue it downstream."""

    def set(self, key: str, value: AttributeValue | None) -> None: ...

    def rename(self, name: str) -> None: ...

    def fail(self, reason: str) -> None: ...

    def inject(self, headers: MutableMapping[str, str]) -> None: ...

    def ids(self) -> tuple[str, str] | None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None: ...


class Tracing(Protocol):
    """The tracing the composition root wires. A Protocol because there are two: OpenTelemetry's, imported only
    when an exporter is configured, and NoTracing, which costs nothing."""

    enabled: bool

    def invocation(self, event: object) -> Span: ...

    def section(self, name: str, service: str) -> Span: ...

    def client(self, service: str, method: str, url: str, *, attempt: int, hedge: bool) -> Span: ...

    def store(self, system: str, operation: str, target: str) -> Span: ...

    def export(self) -> None: ...

    def disconnect(self) -> None: ...


class _NoSpan:
    """A span that records nothing and sends no header: one shared instance, its own context manager."""

    def set(self, key: str, value: AttributeValue | None) -> None:
        pass

    def rename(self, name: str) -> None:
        pass

    def fail(self, reason: str) -> None:
        pass

    def inject(self, headers: MutableMapping[str, str]) -> None:
        pass

    def ids(self) -> tuple[str, str] | None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None


NO_SPAN = _NoSpan()


class NoTracing:
    """Tracing off: every span is NO_SPAN, and there is nothing to export."""

    enabled = False

    def invocation(self, event: object) -> Span:
        return NO_SPAN

    def section(self, name: str, service: str) -> Span:
        return NO_SPAN

    def client(self, service: str, method: str, url: str, *, attempt: int, hedge: bool) -> Span:
        return NO_SPAN

    def store(self, system: str, operation: str, target: str) -> Span:
        return NO_SPAN

    def export(self) -> None:
        pass

    def disconnect(self) -> None:
        pass


def tracing_from(environ: Mapping[str, str], **options: Any) -> Tracing:
    """The environment's tracing: OpenTelemetry's when on (imported only then), else NoTracing. The handler builds
    one per environment and the composition root hands it to what makes spans."""
    if not tracing_enabled(environ):
        return NoTracing()
    from bff.observability.otel import OtelTracing  # noqa: PLC0415 - the SDK is imported only when tracing is on

    return OtelTracing.from_environment(environ, **options)


NO_TRACING = NoTracing()
