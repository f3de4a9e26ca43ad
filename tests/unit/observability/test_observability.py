"""Logs and metrics of the read path, read back as the JSON and EMF that CloudWatch would receive."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bff.composition import instrument_handler
from bff.core.recording import DownstreamCall
from bff.observability import logging as observed_logging
from bff.observability import metrics as observed_metrics
from bff.observability import tracing
from bff.observability.logging import bind_request
from bff.observability.metrics import OUTSIDE_INVOCATION, InvocationRecord, invocation_metrics
from tests.support.lambda_context import FakeLambdaContext
from tests.support.log_lines import Lines, dimension_sets

SECRETS = ("Bearer s3cret-token", "session=abc123", "id=xyz; HttpOnly", "AQoDYXdzEJr")


def test_credentials_never_reach_the_log_even_when_headers_are_logged(log_lines: Lines) -> None:
    # Given headers carrying credentials, logged as a message, as an extra and as text
    headers = {
        "Authorization": SECRETS[0],
        "cookie": SECRETS[1],
        "Set-Cookie": SECRETS[2],
        "X-Amz-Security-Token": SECRETS[3],
        "accept": "application/json",
    }
    # When they are logged
    observed_logging.logger.info({"headers": headers})
    observed_logging.logger.warning("upstream said no", extra={"response_headers": [(b"set-cookie", b"x=1")]})
    observed_logging.logger.error(f"request failed with headers {headers}")
    # Then no secret is written, and the harmless header still is
    lines = log_lines()
    output = "".join(str(line) for line in lines)
    assert len(lines) == 3
    for secret in SECRETS:
        assert secret not in output
    assert lines[0]["message"]["headers"]["Authorization"] == "[REDACTED]"
    assert lines[0]["message"]["headers"]["accept"] == "application/json"
    assert lines[1]["response_headers"] == [["b'set-cookie'", "[REDACTED]"]]


@pytest.fixture
def debug_level() -> Iterator[None]:
    """The level a sampled invocation runs at (Powertools lowers it to DEBUG for the sampled fraction)."""
    previous = observed_logging.logger.log_level
    observed_logging.logger.setLevel(logging.DEBUG)
    yield
    observed_logging.logger.setLevel(previous)


def test_downstream_calls_are_no_line_at_info_and_kept_for_the_invocations_document(
    log_lines: Lines, emf: Lines
) -> None:
    # Given an invocation at INFO
    invocation = InvocationRecord()
    # When two calls finish, one fetched and one timed out
    invocation.record_call(DownstreamCall("product", "fetched", 51.234, status=200))
    invocation.record_call(DownstreamCall("reviews", "timeout", 450.0, attempt=2))
    # Then neither writes a line or a document of its own
    assert (log_lines(), emf()) == ([], [])
    # And the invocation's document names each service's latency (one value per call) and its failures
    assert invocation_metrics(invocation) == {
        "ProductLatency": (observed_metrics.Unit.MILLISECONDS, [51.2]),
        "ReviewsLatency": (observed_metrics.Unit.MILLISECONDS, [450.0]),
        "ReviewsFailures": (observed_metrics.Unit.COUNT, 1),
    }


@pytest.mark.usefixtures("debug_level")
def test_a_sampled_invocation_logs_each_call_at_debug(log_lines: Lines) -> None:
    # Given a request bound to a correlation id, in a sampled invocation
    bind_request("req-42")
    # When two calls finish, one fetched and one timed out
    invocation = InvocationRecord()
    invocation.record_call(DownstreamCall("product", "fetched", 51.234, status=200))
    invocation.record_call(DownstreamCall("reviews", "timeout", 450.0, attempt=2))
    # Then each has one DEBUG line with the call's fields and the correlation id
    product_line, reviews_line = log_lines()
    assert (product_line["level"], product_line["message"]) == ("DEBUG", "downstream call")
    assert product_line["downstream"] == {
        "service": "product",
        "status": 200,
        "duration_ms": 51.2,
        "attempt": 1,
        "outcome": "fetched",
    }
    assert product_line["correlation_id"] == "req-42"
    assert product_line["service"] == observed_logging.SERVICE_NAME
    assert reviews_line["level"] == "DEBUG"
    assert reviews_line["downstream"]["outcome"] == "timeout"
    assert reviews_line["downstream"]["status"] is None


def test_a_cancelled_call_is_a_normal_end_of_a_hedge_not_a_failure() -> None:
    # Given a hedge that lost its race and was cancelled, and a call that failed
    invocation = InvocationRecord()
    invocation.record_call(DownstreamCall("reviews", "cancelled", 80.0, attempt=2))
    invocation.record_call(DownstreamCall("reviews", "http_error", 12.0, status=503))
    # Then both are latency samples (two calls), and only the failure counts as one
    metrics = invocation_metrics(invocation)
    assert metrics["ReviewsLatency"][1] == [80.0, 12.0]
    assert metrics["ReviewsFailures"][1] == 1


def test_debug_sampling_is_drawn_again_at_each_warm_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a sample rate of one half, and draws that alternate under and over it
    logger = observed_logging.logger
    monkeypatch.setattr(logger, "sampling_rate", 0.5)
    draws = iter([0.9, 0.1, 0.9])
    monkeypatch.setattr("aws_lambda_powertools.logging.logger.random.random", lambda: next(draws))
    monkeypatch.setattr("aws_lambda_powertools.logging.logger.is_cold_start", False)
    levels: list[int] = []

    def handle(event: dict[str, Any], context: Any, record: InvocationRecord) -> dict[str, Any]:
        levels.append(logger.log_level)
        return {"statusCode": 200}

    handler = instrument_handler(handle)
    # When three warm invocations run
    for _ in range(3):
        handler({}, FakeLambdaContext())
    # Then only the one whose draw fell under the rate ran at DEBUG
    assert levels == [logging.INFO, logging.DEBUG, logging.INFO]


def test_degraded_sections_are_counted_by_section_and_reason_at_once(emf: Lines) -> None:
    # Given a page served with three degraded sections, outside any invocation
    OUTSIDE_INVOCATION.record_degradations(
        [("reviews", "timeout"), ("inventory", "stale"), ("reviews", "circuit_open")]
    )
    (document,) = emf()
    # Then one document counted them by section and by reason, and no response was counted here
    assert (document["ReviewsDegraded"], document["InventoryDegraded"]) == ([2], [1])
    assert (document["DegradedTimeout"], document["DegradedStale"], document["DegradedCircuitOpen"]) == ([1], [1], [1])
    assert "Responses" not in document
    assert dimension_sets(document) == [["service"]]


@pytest.mark.parametrize(
    ("status", "status_class"),
    [(200, "2xx"), (304, "3xx"), (404, "4xx"), (503, "5xx"), (None, "5xx"), ("200", "5xx"), (True, "5xx"), (99, "5xx")],
)
def test_a_status_without_a_usable_code_is_a_server_failure(status: object, status_class: str) -> None:
    assert observed_metrics.status_class_of(status) == status_class


def test_the_function_version_is_the_contexts_else_the_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "12")
    assert observed_metrics.function_version_of(FakeLambdaContext(function_version="3")) == "3"
    assert observed_metrics.function_version_of(object()) == "12"
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_VERSION")
    assert observed_metrics.function_version_of(object()) == "$LATEST"


@pytest.fixture
def cold_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cold-start flags are module globals; another test may already have cleared them."""
    monkeypatch.setattr("aws_lambda_powertools.logging.logger.is_cold_start", True)
    monkeypatch.setattr(observed_metrics._environment, "cold", True)


@pytest.mark.usefixtures("cold_environment")
def test_instrumented_handler_logs_lambda_context_and_counts_each_invocation(log_lines: Lines, emf: Lines) -> None:
    # Given a handler that logs and records a degraded page
    def handle(event: dict[str, Any], context: Any, record: InvocationRecord) -> dict[str, Any]:
        observed_logging.logger.info("page served")
        record.record_degradations([("reviews", "timeout")])
        return {"statusCode": 200}

    handler = instrument_handler(handle)
    context = FakeLambdaContext()
    event = {"requestContext": {"requestId": "apigw-request-1"}}
    # When it is invoked twice
    assert handler(event, context) == {"statusCode": 200}
    first_invocation = emf()
    handler(event, context)
    second_invocation = emf()
    # Then log lines carry the Lambda context, API Gateway's request id and the cold-start flag
    lines = log_lines()
    assert [line["message"] for line in lines] == ["page served"] * 2
    first, second = lines
    assert (first["cold_start"], second["cold_start"]) == (True, False)
    assert first["function_name"] == context.function_name
    assert first["function_request_id"] == context.aws_request_id
    assert first["correlation_id"] == "apigw-request-1"
    # And the cold start is counted once, in the first invocation's own document (no line of its own)
    (cold_start,) = [doc for doc in first_invocation if "ColdStart" in doc]
    assert "Responses" in cold_start
    assert (cold_start["ColdStart"], cold_start["service"]) == ([1], "product-bff")
    assert not any("ColdStart" in doc for doc in second_invocation)
    # And each invocation is one line: a degraded 2xx response, its degraded section and the correlation id
    for invocation in (first_invocation, second_invocation):
        (line,) = [doc for doc in invocation if "Responses" in doc]
        assert (line["StatusClass"], line["DegradedResponses"], line["level"]) == ("2xx", [1.0], "WARNING")
        assert (line["ReviewsDegraded"], line["DegradedTimeout"]) == ([1], [1])
        assert line["correlation_id"] == "apigw-request-1"
        assert len([doc for doc in invocation if "ReviewsDegraded" in doc]) == 1


def fail_inside(span: tracing.Span, headers: dict[str, str]) -> None:
    with span:
        span.inject(headers)
        raise httpx.ReadTimeout("slow")


def test_with_tracing_off_a_span_records_nothing_sends_nothing_and_hides_no_error() -> None:
    # Given tracing off
    spans = tracing.NoTracing()
    headers: dict[str, str] = {}
    span = spans.client("product", "GET", "http://x/", attempt=1, hedge=False)
    # When a call inside a client span fails
    with pytest.raises(httpx.ReadTimeout):
        fail_inside(span, headers)
    # Then the failure reaches the caller unchanged, no header was added, and the span was the shared no-op
    assert headers == {}
    assert span is spans.section("reviews", "reviews") is tracing.NO_SPAN


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"}, False),
    ],
)
def test_tracing_is_on_exactly_when_an_endpoint_is_set_and_the_sdk_not_disabled(
    environ: dict[str, str], enabled: bool
) -> None:
    assert tracing.tracing_enabled(environ) is enabled


def test_a_message_is_written_as_given_not_parsed_as_json(log_lines: Lines) -> None:
    # Powertools would json.loads every message; ours stay the text they were (and cost no failed parse)
    observed_logging.logger.info('{"looks": "like json"}')
    assert log_lines()[0]["message"] == '{"looks": "like json"}'
