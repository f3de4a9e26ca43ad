"""Traces through the real handler, exported over OTLP/HTTP to a receiver on 127.0.0.1 that decodes the protobuf:
the spans of a page, the traceparent each call carries, hedges and retries, and SnapStart's connections."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

import pytest
import requests
from botocore.credentials import Credentials
from moto import mock_aws
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bff.cache.entry import CacheEntry, OnStoreError, ignore_store_error
from bff.config.aws_clients import AwsCallLimits, bounded_client
from bff.config.services import variable
from bff.observability.otel import OtelTracing, traces_endpoint, xray_auth_for
from bff.observability.spans import TracedStore
from tests.conftest import load_event
from tests.support.fake_downstream import FakeDownstream, handler_over
from tests.support.lambda_context import FakeLambdaContext
from tests.support.log_lines import json_lines
from tools.otlp_receiver import ReceivedSpan, Receiver, in_tree_order, otlp_receiver, waterfall_text

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
PAGE_SECTIONS = {"product", "reviews", "inventory"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def fake() -> FakeDownstream:
    return FakeDownstream()


@pytest.fixture(scope="module")
def handler_module(fake: FakeDownstream, receiver: Receiver) -> Iterator[ModuleType]:
    environment = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "bff-under-test",
        "RETRY_MAX_ATTEMPTS": "2",
        "RETRY_BASE_DELAY_MS": "1",
        "RETRY_MAX_DELAY_MS": "2",
        **{variable(name, "hedge_delay_ms"): "0" for name in ("product", "inventory")},
        variable("reviews", "hedge_delay_ms"): "30",
    }
    with handler_over(fake, **environment) as module:
        yield module


@pytest.fixture(autouse=True)
def fresh(fake: FakeDownstream, receiver: Receiver) -> None:
    fake.scripts.clear()
    fake.requests.clear()
    receiver.clear()


def page(handler_module: ModuleType, product_id: str, **headers: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("bff-v2-P001.json"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/product-details/{product_id}"
    event["pathParameters"] = {"productId": product_id}
    event["headers"].update(headers)
    response: dict[str, Any] = handler_module.lambda_handler(event, FakeLambdaContext())
    return response


def one_trace(receiver: Receiver) -> list[ReceivedSpan]:
    traces = receiver.traces()
    assert len(traces) == 1, f"one trace per page, got {len(traces)}"
    (spans,) = traces.values()
    return spans


def server_span(spans: list[ReceivedSpan]) -> ReceivedSpan:
    (server,) = [span for span in spans if span.kind == "server"]
    return server


def section_spans(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {span.attributes["bff.section"]: span for span in spans if "bff.section" in span.attributes}


def client_spans(spans: list[ReceivedSpan], service: str | None = None) -> list[ReceivedSpan]:
    return [
        span
        for span in spans
        if span.kind == "client" and "peer.service" in span.attributes
        if service is None or span.attributes["peer.service"] == service
    ]


def traceparents_sent(fake: FakeDownstream) -> list[tuple[str, str]]:
    """(trace id, parent span id) of each downstream request's traceparent."""
    sent = []
    for request in fake.requests:
        version, trace_id, span_id, flags = request.headers["traceparent"].split("-")
        assert version == "00"
        assert int(flags, 16) & 1, "sampled"
        sent.append((trace_id, span_id))
    return sent


@pytest.mark.parametrize("product_id", ["TRACE-A", "TRACE-B", "TRACE-C"])
def test_a_page_is_one_trace_a_server_span_its_sections_and_a_client_span_per_call(
    handler_module: ModuleType, fake: FakeDownstream, receiver: Receiver, product_id: str
) -> None:
    # When a page is requested for an id no cache holds
    response = page(handler_module, product_id)
    assert response["statusCode"] == 200
    # Then its spans reached the receiver in the invocation's one export, all in one trace
    assert receiver.requests == 1
    spans = one_trace(receiver)
    server = server_span(spans)
    assert server.name == "GET /product-details/{productId}"
    assert server.parent_id == ""
    assert server.attributes["http.route"] == "/product-details/{productId}"
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["bff.correlation_id"] == response["headers"]["x-correlation-id"]
    assert server.resource["service.name"] == "bff-under-test"
    # And each section is a span under the SERVER span, siblings of one another, that missed the cache
    sections = section_spans(spans)
    assert set(sections) == PAGE_SECTIONS
    for section in sections.values():
        assert section.parent_id == server.span_id
        assert (section.attributes["bff.cache.outcome"], section.attributes["bff.cache.tier"]) == ("miss", "none")
    # And each downstream call is a CLIENT span under its section, with the HTTP conventions
    clients = client_spans(spans)
    assert len(clients) >= 3
    for client in clients:
        section = sections[client.attributes["peer.service"]]
        assert client.parent_id == section.span_id
        assert client.attributes["http.request.method"] == "GET"
        assert client.attributes["http.response.status_code"] == 200
        assert client.attributes["url.full"].endswith(product_id)
    # And every call carried the traceparent of its own CLIENT span, in the page's trace
    assert sorted(traceparents_sent(fake)) == sorted((client.trace_id, client.span_id) for client in clients)


def test_an_incoming_traceparent_is_continued(
    handler_module: ModuleType, fake: FakeDownstream, receiver: Receiver
) -> None:
    page(handler_module, "TRACE-CONTINUED", traceparent=f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01")
    spans = one_trace(receiver)
    server = server_span(spans)
    assert (server.trace_id, server.parent_id) == (CLIENT_TRACE_ID, CLIENT_SPAN_ID)
    assert {trace_id for trace_id, _ in traceparents_sent(fake)} == {CLIENT_TRACE_ID}
    assert CLIENT_SPAN_ID not in {span_id for _, span_id in traceparents_sent(fake)}


@pytest.mark.parametrize(
    ("sampler", "argument", "caller_flags", "sampled"),
    [
        ("parentbased_traceidratio", "0", "01", False),  # a caller's sampled flag cannot force an export
        ("parentbased_always_off", None, "01", False),
        ("parentbased_traceidratio", "1", "00", True),  # nor can its unsampled flag hide an invocation
        ("parentbased_always_on", None, "00", True),
        ("traceidratio", "0", "01", False),
    ],
)
def test_a_caller_s_traceparent_flag_never_decides_sampling(
    sampler: str, argument: str | None, caller_flags: str, sampled: bool
) -> None:
    # Given tracing configured with a sampler, and a caller's traceparent with its own flag
    environ = {"OTEL_TRACES_SAMPLER": sampler, **({"OTEL_TRACES_SAMPLER_ARG": argument} if argument else {})}
    exported = InMemorySpanExporter()
    tracing = OtelTracing.from_environment(environ, exporter=exported)
    event = copy.deepcopy(load_event("bff-v2-P001.json"))
    event["headers"]["traceparent"] = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-{caller_flags}"
    # When an invocation's SERVER span starts under it
    headers: dict[str, str] = {}
    with tracing.invocation(event) as span:
        span.inject(headers)
    # Then the trace is continued, and only the BFF's sampler said whether it is sampled
    _, trace_id, _, flags = headers["traceparent"].split("-")
    assert trace_id == CLIENT_TRACE_ID
    assert (flags == "01") is sampled


def test_a_malformed_traceparent_starts_a_trace_of_its_own(handler_module: ModuleType, receiver: Receiver) -> None:
    page(handler_module, "TRACE-FORGED", traceparent=f"00-{'0' * 32}-{CLIENT_SPAN_ID}-01")
    server = server_span(one_trace(receiver))
    assert server.trace_id != "0" * 32
    assert server.parent_id == ""


def test_a_retried_call_shows_each_attempt(
    handler_module: ModuleType, fake: FakeDownstream, receiver: Receiver
) -> None:
    # Given the inventory service answers 503 (retryable), with two attempts allowed
    fake.script("inventory", status=503)
    response = page(handler_module, "TRACE-RETRY")
    assert response["statusCode"] == 200
    spans = one_trace(receiver)
    # Then each attempt is a CLIENT span of its own under the section, the second marked as a resend
    attempts = sorted(client_spans(spans, "inventory"), key=lambda span: span.attributes["bff.attempt"])
    assert [span.attributes["bff.attempt"] for span in attempts] == [1, 2]
    assert "http.request.resend_count" not in attempts[0].attributes
    assert attempts[1].attributes["http.request.resend_count"] == 1
    assert all(span.attributes["http.response.status_code"] == 503 for span in attempts)
    assert all(span.status_code == 2 for span in attempts), "a failed attempt is an error span"  # STATUS_CODE_ERROR
    section = section_spans(spans)["inventory"]
    assert {span.parent_id for span in attempts} == {section.span_id}
    assert section.attributes["bff.degradation.reason"] == "unavailable"
    assert len(fake.calls_to("inventory")) == 2


def test_a_hedged_call_shows_both_attempts_as_siblings(
    handler_module: ModuleType, fake: FakeDownstream, receiver: Receiver
) -> None:
    # Given a reviews service slower than its hedge delay (30 ms)
    fake.script("reviews", delay_s=0.12)
    response = page(handler_module, "TRACE-HEDGE")
    assert response["statusCode"] == 200
    spans = one_trace(receiver)
    # Then the first attempt and the hedge are both CLIENT spans under the section, the hedge marked as such
    attempts = client_spans(spans, "reviews")
    assert len(attempts) == 2
    (hedge,) = [span for span in attempts if span.attributes.get("bff.hedge")]
    (first,) = [span for span in attempts if span is not hedge]
    section = section_spans(spans)["reviews"]
    assert first.parent_id == hedge.parent_id == section.span_id
    assert hedge.start_ns > first.start_ns
    # And each carried its own span's traceparent
    sent = {span_id for _, span_id in traceparents_sent(fake)}
    assert {first.span_id, hedge.span_id} <= sent


def test_the_canonical_line_names_the_trace_and_the_server_span(
    handler_module: ModuleType, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    page(handler_module, "TRACE-LOG")
    (line,) = [line for line in json_lines(capsys.readouterr().out) if "Responses" in line]
    server = server_span(one_trace(receiver))
    assert (line["trace_id"], line["span_id"]) == (server.trace_id, server.span_id)


def test_snapstart_the_snapshot_holds_no_exporter_connection_and_a_restore_opens_a_fresh_one(
    handler_module: ModuleType, receiver: Receiver
) -> None:
    hooks = handler_module.snapstart_hooks
    assert hooks is not None, "snapshot_restore_py is a dev dependency"
    # Given an environment that exported once, over a kept-alive connection
    page(handler_module, "SNAP-1")
    assert receiver.connections_opened - receiver.connections_closed == 1
    opened = receiver.connections_opened
    # When the runtime prepares the snapshot, the exporter's connection is closed
    hooks.before_snapshot()
    wait_until(lambda: receiver.connections_opened == receiver.connections_closed)
    # And after a restore the next export opens a fresh connection
    hooks.after_restore()
    page(handler_module, "SNAP-2")
    assert receiver.connections_opened == opened + 1
    assert receiver.requests == 2


def wait_until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class DictStore:
    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, Any]:
        return {key: self.entries[key] for key in keys if key in self.entries}

    async def put_many(
        self, entries: Mapping[str, Any], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        self.entries.update(entries)


def test_each_shared_cache_read_and_write_is_a_client_span_under_the_running_span() -> None:
    # Given the shared cache behind the traced store, and a parent span open
    exported = InMemorySpanExporter()
    spans = OtelTracing.from_environment({}, exporter=exported)
    store = TracedStore(DictStore(), spans, system="aws.dynamodb", target="fragments-table")
    entry = CacheEntry(value={"id": "k1"}, status=200, stored_at=0.0, fresh_until=1.0, stale_until=2.0)

    async def read_and_write() -> None:
        with spans.section("product", "product"):
            await store.put_many({"k1": entry}, within_s=0.05)
            await store.get_many(["k1", "k2"], within_s=0.05)

    # When a section writes one entry and reads two keys
    asyncio.run(read_and_write())
    spans.export()
    # Then the write and the read are CLIENT spans of the store, children of the section, with what they moved
    put, get, section = exported.get_finished_spans()
    assert (put.name, get.name) == ("put fragments-table", "get fragments-table")
    for span in (put, get):
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == section.context.span_id
        assert span.attributes is not None
        assert span.attributes["db.system.name"] == "aws.dynamodb"
    assert get.attributes is not None
    assert (get.attributes["bff.cache.keys"], get.attributes["bff.cache.found"]) == (
        2,
        1,
    )


def test_exports_to_xray_s_otlp_endpoint_are_sigv4_signed_for_xray_and_no_other_endpoint_is() -> None:
    # Given the execution role's credentials, and X-Ray's OTLP endpoint in the traces variable
    credentials = Credentials("AKIDEXAMPLE", "secret", "session-token")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bff.observability.otel._session_credentials", lambda: credentials)
        auth = xray_auth_for(traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://xray.eu-west-1.amazonaws.com"}))
        assert xray_auth_for(traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})) is None
        assert xray_auth_for("https://xray.eu-west-1.amazonaws.com.evil.test/v1/traces") is None
    assert auth is not None
    # When an export request is prepared
    prepared = requests.Request(
        "POST", "https://xray.eu-west-1.amazonaws.com/v1/traces", data=b"\x0a\x00", headers={"content-type": "x"}
    ).prepare()
    auth(prepared)
    # Then it carries a SigV4 signature for service xray in the endpoint's region, with the session token
    signature = str(prepared.headers["authorization"])
    assert signature.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/xray/aws4_request" in signature
    assert prepared.headers["x-amz-security-token"] == "session-token"


def test_the_local_waterfall_shows_each_span_under_its_parent_with_what_it_says(
    handler_module: ModuleType, fake: FakeDownstream, receiver: Receiver
) -> None:
    # Given a page whose inventory call is retried
    fake.script("inventory", status=503)
    page(handler_module, "TRACE-WATERFALL")
    spans = one_trace(receiver)
    # When `make traces` prints it
    lines = waterfall_text(spans)
    # Then the trace's line, then one line per span: the SERVER span first, each span below its parent
    assert lines[0].startswith(f"trace {spans[0].trace_id}")
    assert len(lines) == len(spans) + 1
    assert lines[1].endswith("GET /product-details/{productId} [200]")
    assert any(line.endswith("    GET inventory [503, retry 1]") for line in lines)
    depths = {span.span_id: depth for depth, span in in_tree_order(spans)}
    assert all(depths[span.span_id] == depths.get(span.parent_id, -1) + 1 for span in spans)


def test_each_call_of_a_bounded_aws_client_is_a_client_span_and_a_failed_one_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the idempotency store's kind of client (DynamoDB, one attempt) on moto, tracing on
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    exported = InMemorySpanExporter()
    spans = OtelTracing.from_environment({}, exporter=exported)
    with mock_aws():
        client = bounded_client("dynamodb", AwsCallLimits(0.5, 0.5), spans)
        # When one call succeeds and one fails, inside an invocation's span
        with spans.section("cart", "cart"):
            client.list_tables()
            with pytest.raises(client.exceptions.ResourceNotFoundException):
                client.describe_table(TableName="missing")
    spans.export()
    # Then each call is a CLIENT span under it, named by its operation; the failed one an error with its type
    listed, described, section = exported.get_finished_spans()
    assert (listed.name, described.name) == ("ListTables dynamodb", "DescribeTable dynamodb")
    for span in (listed, described):
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == section.context.span_id
    assert listed.attributes is not None
    assert listed.attributes["http.response.status_code"] == 200
    assert described.status.status_code is StatusCode.ERROR
    assert described.attributes is not None
    assert described.attributes["error.type"] == "ResourceNotFoundException"
