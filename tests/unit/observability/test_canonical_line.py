"""The canonical log line: one wide line per invocation through the real handler, whatever the answer, which is the
invocation's EMF document too; what a page costs on stdout; and every alarm of the template fed by it."""

from __future__ import annotations

import copy
import io
import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from bff.core.recording import DownstreamCall, SectionReport
from bff.observability.metrics import InvocationRecord, canonical_fields, metric_prefix
from tests.conftest import load_event
from tests.support.fake_downstream import FakeDownstream, handler_over
from tests.support.lambda_context import FakeLambdaContext
from tests.support.log_lines import Lines, json_lines
from tests.support.overrides import override_pages
from tools.local_aws import load_template

MAX_HEALTHY_PAGE_BYTES = 1200
# A page whose every section misses the cache carries three call latencies and miss counts more: about 1,470 B,
# over issue 14's 1,200 (docs/performance-and-cost.md, "Issue 14's targets"); this bound keeps it from growing.
MAX_MISSED_PAGE_BYTES = 1500


@pytest.fixture(scope="module")
def fake() -> FakeDownstream:
    return FakeDownstream()


@pytest.fixture(scope="module")
def handler_module(fake: FakeDownstream) -> Iterator[ModuleType]:
    with handler_over(fake, RETRY_MAX_ATTEMPTS="1") as module:
        yield module


@pytest.fixture(autouse=True)
def healthy(fake: FakeDownstream) -> None:
    fake.scripts.clear()


def page_event(path: str = "/product-details/P001", *, method: str = "GET") -> dict[str, Any]:
    event = copy.deepcopy(load_event("bff-v2-P001.json"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    return event


def request_line(emf: Lines) -> dict[str, Any]:
    """The last invocation's line: its EMF document (stdout holds every line since the last read)."""
    return [line for line in emf() if "Responses" in line][-1]


def test_a_page_that_missed_the_cache_is_one_info_line_that_is_its_metrics_document(
    handler_module: ModuleType, log_lines: Lines, emf: Lines
) -> None:
    # When a page is requested for an id no cache holds
    response = handler_module.lambda_handler(page_event("/product-details/MISS1"), FakeLambdaContext())
    # Then nothing goes through the logger, and stdout has one line: the request's fields and its metrics
    assert response["statusCode"] == 200
    assert log_lines() == []
    (line,) = emf()
    assert line["level"] == "INFO"
    assert (line["route"], line["method"], line["status"]) == ("/product-details/{productId}", "GET", 200)
    assert line["correlation_id"] == response["headers"]["x-correlation-id"]
    assert "trace_id" not in line  # tracing is off here (tests/unit/observability/test_spans.py has it on)
    # And none of what the platform's lines or the metrics say again: plain fetches are their metrics
    for repeated in ("timestamp", "function_name", "function_request_id", "cold_start", "duration_ms", "sections"):
        assert repeated not in line
    for name in ("Product", "Reviews", "Inventory"):
        assert len(line[f"{name}Latency"]) == 1
        assert line[f"{name}Misses"] == [1]
    assert (line["Responses"], line["DegradedResponses"]) == ([1], [0])


def test_a_section_served_by_the_cache_is_its_hit_metric(handler_module: ModuleType, emf: Lines) -> None:
    handler_module.lambda_handler(page_event("/product-details/HIT1"), FakeLambdaContext())  # fills the cache
    emf()
    handler_module.lambda_handler(page_event("/product-details/HIT1"), FakeLambdaContext())
    line = request_line(emf)
    assert "sections" not in line
    assert (line["ProductL1Hits"], line["ReviewsL1Hits"], line["InventoryL1Hits"]) == ([1], [1], [1])


def test_a_degraded_page_is_one_warning_line_that_counts_its_degraded_section(
    handler_module: ModuleType, fake: FakeDownstream, emf: Lines
) -> None:
    # Given the reviews service fails for an id no cache holds
    fake.script("reviews", status=503)
    handler_module.lambda_handler(page_event("/product-details/DEGRADED1"), FakeLambdaContext())
    # Then the one line is a WARNING naming the degraded section, its reason and the status it got
    (line,) = emf()
    assert (line["level"], line["status"]) == ("WARNING", 200)
    reviews = line["sections"]["reviews"]
    assert (reviews["outcome"], reviews["status"], reviews["attempts"]) == ("failed", 503, 1)
    assert set(line["sections"]) == {"reviews"}
    # And it counts the degraded response, and the degraded section by section and by reason, in the same document
    assert line["DegradedResponses"] == [1]
    assert line["ReviewsDegraded"] == [1]
    assert line[f"Degraded{metric_prefix(reviews['reason'])}"] == [1]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert {"Name": "ReviewsDegraded"} in directive["Metrics"]


def test_a_page_with_two_degraded_sections_is_still_one_line(
    handler_module: ModuleType, fake: FakeDownstream, emf: Lines
) -> None:
    # Given the reviews and the inventory services both fail for an id no cache holds
    fake.script("reviews", status=503)
    fake.script("inventory", status=503)
    handler_module.lambda_handler(page_event("/product-details/DEGRADED2"), FakeLambdaContext())
    # Then the invocation wrote one line, which counts each degraded section and their reasons
    (line,) = emf()
    assert set(line["sections"]) == {"reviews", "inventory"}
    assert (line["ReviewsDegraded"], line["InventoryDegraded"]) == ([1], [1])
    reasons = {section["reason"] for section in line["sections"].values()}
    assert sum(line[f"Degraded{metric_prefix(reason)}"][0] for reason in reasons) == 2


def test_a_failed_page_is_one_error_line(handler_module: ModuleType, fake: FakeDownstream, emf: Lines) -> None:
    # Given the critical product section fails
    fake.script("product", status=503)
    response = handler_module.lambda_handler(page_event("/product-details/FAILED1"), FakeLambdaContext())
    # Then the 5xx is an ERROR line whose product section says why
    line = request_line(emf)
    assert response["statusCode"] >= 500
    assert (line["level"], line["status"], line["StatusClass"]) == ("ERROR", response["statusCode"], "5xx")
    assert line["sections"]["product"]["outcome"] == "failed"


@pytest.mark.parametrize(
    ("event", "status", "route", "method"),
    [
        (page_event("/product-details/not%20an%20id"), 400, "/product-details/{productId}", "GET"),
        (page_event("/no-such-route"), 404, "/no-such-route", "GET"),
        (page_event(method="POST"), 405, "/product-details/{productId}", "POST"),
        (None, 400, None, None),
        ({"version": "2.0", "requestContext": None}, 400, None, None),
    ],
    ids=["invalid-id", "route-404", "method-405", "guard-not-an-event", "guard-untranslatable"],
)
def test_every_other_answer_is_one_info_line_too(
    event: object, status: int, route: str | None, method: str | None, handler_module: ModuleType, emf: Lines
) -> None:
    handler_module.lambda_handler(event, FakeLambdaContext())
    line = request_line(emf)
    assert (line["level"], line["status"], line.get("route"), line.get("method")) == ("INFO", status, route, method)
    assert "sections" not in line


def test_a_path_that_names_a_credential_is_redacted_in_the_line(handler_module: ModuleType, emf: Lines) -> None:
    handler_module.lambda_handler(page_event("/no-such-route/authorization=Bearer%20s3cret"), FakeLambdaContext())
    (line,) = [line for line in emf() if "Responses" in line]
    assert "s3cret" not in json.dumps(line)
    assert line["status"] == 404


def test_the_catch_all_500_is_one_error_line(
    handler_module: ModuleType, emf: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenPages:
        async def render(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("bug")

    # The handler module serves the whole test module: the override is undone after this test.
    monkeypatch.setattr(handler_module.app, "dependency_overrides", {})
    override_pages(handler_module.app, BrokenPages())
    handler_module.lambda_handler(page_event(), FakeLambdaContext())
    line = request_line(emf)
    assert (line["level"], line["status"], line["route"]) == ("ERROR", 500, "/product-details/{productId}")


def stdout_of_one_page(handler_module: ModuleType, path: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Everything one invocation writes to stdout: the logger's stream and the EMF writer's."""
    handler = handler_module.logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    capsys.readouterr()
    try:
        response = handler_module.lambda_handler(page_event(path), FakeLambdaContext(remaining_ms=30_000))
    finally:
        handler.setStream(previous)
    assert response["statusCode"] == 200
    written = buffer.getvalue() + capsys.readouterr().out
    assert sys.stdout is not None
    return written


@pytest.fixture(scope="module")
def traced_handler_module(fake: FakeDownstream) -> Iterator[ModuleType]:
    """Tracing on (its ids are part of the line), toward an endpoint nobody answers: the export fails quietly."""
    with handler_over(fake, RETRY_MAX_ATTEMPTS="1", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9") as module:
        yield module


def test_a_page_that_missed_the_cache_writes_one_line_within_900_bytes_at_info(
    traced_handler_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a warm environment, tracing on
    traced_handler_module.lambda_handler(page_event("/product-details/WARM"), FakeLambdaContext())
    # When a page missing the cache, then the same page from the cache, are served at INFO
    missed = stdout_of_one_page(traced_handler_module, "/product-details/BUDGET1", capsys)
    cached = stdout_of_one_page(traced_handler_module, "/product-details/BUDGET1", capsys)
    # Then each is one line, an EMF document naming its trace, the missed one within 900 bytes
    for written in (missed, cached):
        (line,) = json_lines(written)
        assert written.count("\n") == 1
        assert tuple(line) >= ("_aws", "trace_id", "span_id") or {"_aws", "trace_id", "span_id"} <= set(line)
    assert len(missed.encode()) <= MAX_MISSED_PAGE_BYTES
    assert len(cached.encode()) < len(missed.encode())


def alarm_metrics(template: dict[str, Any]) -> list[tuple[str, dict[str, object]]]:
    """(metric name, {dimension: literal value, or None for an intrinsic}) of every metric an alarm reads."""
    found: list[tuple[str, dict[str, object]]] = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        metrics = (
            [properties]
            if "MetricName" in properties
            else [query["MetricStat"]["Metric"] for query in properties.get("Metrics", []) if "MetricStat" in query]
        )
        for metric in metrics:
            if metric.get("Namespace") != {"Ref": "MetricsNamespace"}:
                continue
            dimensions: dict[str, object] = {
                d["Name"]: d["Value"] if isinstance(d["Value"], str) else None for d in metric["Dimensions"]
            }
            found.append((metric["MetricName"], dimensions))
    return found


def test_every_alarm_of_the_template_is_fed_by_the_line(
    handler_module: ModuleType, fake: FakeDownstream, emf: Lines
) -> None:
    # Given the metrics the template's alarms read (in the BFF's namespace)
    alarms = alarm_metrics(load_template())
    assert len(alarms) >= 4
    # When a healthy, a degraded and a failed page are served
    lines: list[dict[str, Any]] = []
    for script in ({}, {"reviews": 503}, {"product": 503}):
        fake.scripts.clear()
        for service, status in script.items():
            fake.script(service, status=status)
        handler_module.lambda_handler(page_event(f"/product-details/ALARM{len(lines)}"), FakeLambdaContext())
        lines.append(request_line(emf))
    # Then each alarm's metric is in the line with exactly the alarm's dimensions, and its literal values
    for name, dimensions in alarms:
        fed = [line for line in lines if feeds(line, name, dimensions)]
        assert fed, f"no line feeds the alarm on {name} {dimensions}"


def feeds(line: dict[str, Any], name: str, dimensions: dict[str, object]) -> bool:
    for directive in line["_aws"]["CloudWatchMetrics"]:
        if {"Name": name} not in directive["Metrics"] or sorted(dimensions) not in map(sorted, directive["Dimensions"]):
            continue
        if all(value is None or line.get(key) == value for key, value in dimensions.items()):
            return True
    return False


def test_a_section_whose_service_is_not_its_name_names_its_service() -> None:
    # Given a section "details" that the product service answers after a retry, and a plain "reviews" section
    invocation = InvocationRecord()
    invocation.record_call(DownstreamCall("product", "timeout", 3.0, status=None))
    invocation.record_call(DownstreamCall("product", "fetched", 3.0, status=200, attempt=2))
    invocation.record_sections(
        {"details": SectionReport("product", 6.0, cache="miss"), "reviews": SectionReport("reviews", 0.5)}
    )
    # When the invocation's fields are made
    fields = canonical_fields(invocation, page_event(), 200, "2xx")
    # Then the first section names its service and its two attempts; the plain one is left to its metrics
    sections = fields["sections"]
    assert sections["details"]["service"] == "product"
    assert sections["details"]["attempts"] == 2
    assert "reviews" not in sections
