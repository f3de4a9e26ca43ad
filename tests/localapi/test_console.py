"""The `make dev` console: one line per request, warnings and errors compact, metrics hidden unless verbose."""

from __future__ import annotations

import io
import json
import time

from localapi.console import Console, function_lines, request_line, verbose_from

NOON = time.mktime((2026, 1, 1, 12, 0, 1, 0, 0, -1))
EMF = json.dumps({"_aws": {"CloudWatchMetrics": []}, "Responses": [1.0]})
INFO = json.dumps({"level": "INFO", "message": "downstream call", "downstream": {"service": "reviews"}})
WARNING = json.dumps(
    {
        "level": "WARNING",
        "message": "downstream call",
        "function_arn": "arn:aws:lambda:...",
        "correlation_id": "c-1",
        "downstream": {"service": "reviews", "outcome": "timeout", "status": None, "attempt": 2},
    }
)
ERROR = json.dumps({"level": "ERROR", "message": "unhandled error", "exception": "Traceback\n  boom"})
MOCK_ACCESS = json.dumps({"service": "product", "event": "response", "status": 200})


def test_a_request_is_one_line_with_time_method_path_status_and_duration() -> None:
    line = request_line(NOON, method="GET", path="/product-details/P001", status=200, duration_ms=83.4, function=None)
    assert line == "12:00:01 GET /product-details/P001 200 83ms"


def test_metrics_info_logs_and_access_lines_are_hidden() -> None:
    for line in (EMF, INFO, MOCK_ACCESS):
        assert function_lines(NOON, "BffFunction[1]", line, verbose=False) == []


def test_a_warning_is_one_compact_line_without_the_standard_keys() -> None:
    assert function_lines(NOON, "BffFunction[1]", WARNING, verbose=False) == [
        "12:00:01 WARNING BffFunction[1] downstream call downstream.service=reviews downstream.outcome=timeout"
        " downstream.status=null downstream.attempt=2"
    ]


def test_a_degraded_requests_line_shows_without_its_metrics() -> None:
    line = json.dumps(
        {
            "level": "WARNING",
            "correlation_id": "c-1",
            "route": "/product-details/{productId}",
            "sections": {"reviews": {"outcome": "failed", "reason": "timeout"}},
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [
                    {"Namespace": "N", "Dimensions": [["service", "StatusClass"]], "Metrics": [{"Name": "Responses"}]}
                ],
            },
            "service": "product-bff",
            "StatusClass": "2xx",
            "Responses": [1],
        }
    )
    assert function_lines(NOON, "BffFunction[1]", line, verbose=False) == [
        "12:00:01 WARNING BffFunction[1] route=/product-details/{productId} sections.reviews.outcome=failed"
        " sections.reviews.reason=timeout"
    ]


def test_an_error_keeps_its_traceback_indented_below() -> None:
    assert function_lines(NOON, "BffFunction[1]", ERROR, verbose=False) == [
        "12:00:01 ERROR BffFunction[1] unhandled error",
        "    Traceback",
        "      boom",
    ]


def test_plain_prints_pass_as_written() -> None:
    assert function_lines(NOON, "F[1]", "hello {", verbose=False) == ["F[1] hello {"]


def test_verbose_shows_every_line_as_written() -> None:
    for line in (EMF, INFO, WARNING):
        assert function_lines(NOON, "F[1]", line, verbose=True) == [f"F[1] {line}"]


def test_local_verbose_turns_verbose_on() -> None:
    assert [verbose_from({"LOCAL_VERBOSE": value}) for value in ("1", "", "0")] == [True, False, False]
    assert not verbose_from({})


def test_the_console_writes_whole_lines() -> None:
    stream = io.StringIO()
    console = Console(stream, verbose=False, clock=lambda: NOON)
    console.request("GET", "/x", 404, 0.2, None)
    console.function_output("F[1]", EMF)
    assert stream.getvalue() == "12:00:01 GET /x 404 0ms\n"
