"""A local OTLP/HTTP trace receiver on 127.0.0.1: it decodes each ExportTraceServiceRequest (protobuf, with
opentelemetry-proto) into plain spans, and counts the connections exporters open and close.

Tests use it as a backend. `make traces` runs it on 127.0.0.1:4318 and prints each trace as a waterfall, so a
developer sees a request's spans under `make dev` (OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 make dev);
`--png FILE` also draws the latest trace (docs/observability.md's picture was drawn so).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

KINDS = {ProtoSpan.SPAN_KIND_SERVER: "server", ProtoSpan.SPAN_KIND_CLIENT: "client"}


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    resource: dict[str, Any]


@dataclass
class Receiver:
    url: str
    on_spans: Callable[[list[ReceivedSpan]], None] | None = None
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    connections_opened: int = 0
    connections_closed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.spans.clear()
            self.requests = 0

    def traces(self) -> dict[str, list[ReceivedSpan]]:
        by_trace: dict[str, list[ReceivedSpan]] = {}
        for span in list(self.spans):
            by_trace.setdefault(span.trace_id, []).append(span)
        return by_trace


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {attribute.key: _value(attribute.value) for attribute in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=KINDS.get(span.kind, "internal"),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes={attribute.key: _value(attribute.value) for attribute in span.attributes},
                        status_code=span.status.code,
                        resource=resource,
                    )
                )
    return spans


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a collector does: connections are counted
    receiver: ClassVar[Receiver]

    def setup(self) -> None:
        super().setup()
        with self.receiver.lock:
            self.receiver.connections_opened += 1

    def finish(self) -> None:
        super().finish()
        with self.receiver.lock:
            self.receiver.connections_closed += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        spans = decode(body)
        with self.receiver.lock:
            self.receiver.spans.extend(spans)
            self.receiver.requests += 1
        if self.receiver.on_spans is not None:
            self.receiver.on_spans(spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def otlp_receiver(port: int = 0, on_spans: Callable[[list[ReceivedSpan]], None] | None = None) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (a free port by default); its `url` is what OTEL_EXPORTER_OTLP_ENDPOINT takes."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}", on_spans)
    server.RequestHandlerClass = type("ReceiverHandler", (_Handler,), {"receiver": receiver})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def in_tree_order(spans: Sequence[ReceivedSpan]) -> list[tuple[int, ReceivedSpan]]:
    """(depth, span) parents first, siblings by start time; a span whose parent is elsewhere is a root."""
    ids = {span.span_id for span in spans}
    children: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_id if span.parent_id in ids else "", []).append(span)
    ordered: list[tuple[int, ReceivedSpan]] = []

    def visit(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda item: item.start_ns):
            ordered.append((depth, span))
            visit(span.span_id, depth + 1)

    visit("", 0)
    return ordered


def label_of(span: ReceivedSpan) -> str:
    """The span's name and what says most about it: the status, the cache, a retry or hedge, a degradation."""
    attributes = span.attributes
    notes = [
        str(attributes[key])
        for key in ("http.response.status_code", "bff.cache.outcome", "bff.cache.tier", "bff.degradation.reason")
        if key in attributes and attributes[key] not in ("none", None)
    ]
    if attributes.get("bff.hedge"):
        notes.append("hedge")
    elif attributes.get("http.request.resend_count"):
        notes.append(f"retry {attributes['http.request.resend_count']}")
    if attributes.get("bff.cancelled"):
        notes.append("cancelled")
    return f"{span.name} [{', '.join(notes)}]" if notes else span.name


def waterfall_text(spans: Sequence[ReceivedSpan], width: int = 40) -> list[str]:
    """One trace as text: offset, a bar on a shared time scale, duration and label, indented by depth."""
    if not spans:
        return []
    start = min(span.start_ns for span in spans)
    total_ns = max(max(span.end_ns for span in spans) - start, 1)
    lines = [f"trace {spans[0].trace_id} ({total_ns / 1e6:.1f} ms)"]
    for depth, span in in_tree_order(spans):
        left = round((span.start_ns - start) / total_ns * width)
        length = max(round((span.end_ns - span.start_ns) / total_ns * width), 1)
        bar = (" " * left + "#" * length).ljust(width)
        offset_ms, duration_ms = (span.start_ns - start) / 1e6, (span.end_ns - span.start_ns) / 1e6
        lines.append(f"{offset_ms:7.1f} |{bar}| {duration_ms:7.1f} ms  {'  ' * depth}{label_of(span)}")
    return lines


def draw_waterfall(spans: Sequence[ReceivedSpan], path: str, title: str) -> None:
    """The trace as a PNG (matplotlib, a dev dependency): a bar per span on a shared time axis."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    ordered = in_tree_order(spans)
    start = min(span.start_ns for span in spans)
    colours = {"server": "#4C72B0", "internal": "#8172B2", "client": "#55A868"}
    figure, axes = plt.subplots(figsize=(11, 0.42 * len(ordered) + 1.2))
    for row, (depth, span) in enumerate(ordered):
        failed = span.status_code == 2  # STATUS_CODE_ERROR
        colour = "#C44E52" if failed else colours.get(span.kind, "#999999")
        offset_ms, duration_ms = (span.start_ns - start) / 1e6, (span.end_ns - span.start_ns) / 1e6
        axes.barh(row, max(duration_ms, 0.2), left=offset_ms, color=colour, height=0.6)
        axes.text(offset_ms + max(duration_ms, 0.2) + 0.5, row, f"{duration_ms:.1f} ms", va="center", fontsize=8)
        axes.text(-0.5, row, "  " * depth + label_of(span), va="center", ha="right", fontsize=8)
    axes.set_yticks([])
    axes.invert_yaxis()
    axes.set_xlabel("ms since the invocation started")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description="Print each trace the BFF exports as a waterfall.")
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--png", help="also draw each trace to this PNG file (the latest one wins)")
    args = parser.parse_args(argv)

    def show(spans: list[ReceivedSpan]) -> None:
        by_trace: dict[str, list[ReceivedSpan]] = {}
        for span in spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        for trace in by_trace.values():
            print("\n".join(waterfall_text(trace)), flush=True)
            if args.png:
                draw_waterfall(trace, args.png, f"trace {trace[0].trace_id}")

    with otlp_receiver(args.port, on_spans=show) as receiver:
        print(f"OTLP/HTTP receiver on {receiver.url}: OTEL_EXPORTER_OTLP_ENDPOINT={receiver.url} make dev", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
