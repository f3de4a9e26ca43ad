"""One request through the real handler in a fresh process, against real mocks: what the logs, the metrics
and the response headers say, and what they never say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bff.config.pages import product_details_page
from bff.config.services import SERVICES, variable
from tests.support.mock_processes import MockProcess, MockServiceFactory
from tests.support.settings import settings_for
from tests.support.tooling import REPO_ROOT
from tools.otlp_receiver import Receiver, otlp_receiver

pytestmark = pytest.mark.integration

CORRELATION_ID = "obs-4f1c2d"
SECRET_TOKEN = "Bearer sk-live-7b1e9c"
SECRET_COOKIE = "session=cookie-secret-51a"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

INVOKE = textwrap.dedent(
    """
    import json, sys
    from bff.handler import lambda_handler
    from tests.support.lambda_context import FakeLambdaContext
    event = json.load(open(sys.argv[1]))
    response = lambda_handler(event, FakeLambdaContext())
    sys.stderr.write(json.dumps(response))
    """
)


PAGE_SERVICES = [section.service for section in product_details_page(settings_for()).sections]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture
def observed(mock_service_factory: MockServiceFactory, tmp_path: Path, receiver: Receiver) -> dict[str, Any]:
    mocks = {name: mock_service_factory(name, MOCK_LATENCY_MS="5") for name in SERVICES}
    event = json.loads((REPO_ROOT / "events" / "bff-v2-P001.json").read_text())
    event["headers"].update(
        {"x-correlation-id": CORRELATION_ID, "authorization": SECRET_TOKEN, "traceparent": TRACEPARENT}
    )
    event["cookies"] = [SECRET_COOKIE]
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(REPO_ROOT / part) for part in ("functions/bff", "mocks", ".")),
        **{variable(name, "base_url"): mock.base_url for name, mock in mocks.items()},
        # One call per section, even on a loaded machine where a hedge would otherwise fire.
        **{variable(name, "hedge_delay_ms"): "0" for name in mocks},
        "POWERTOOLS_METRICS_NAMESPACE": "ProductBffTest",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # Tracing on: the spans go to the receiver on 127.0.0.1 over OTLP/HTTP.
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
    }
    result = subprocess.run(
        [sys.executable, "-c", INVOKE, str(event_path)],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {
        "lines": lines,
        "stdout": result.stdout,
        # The last JSON document: aiohttp may warn of its unclosed pools right after it, as the interpreter exits.
        "response": json.JSONDecoder().raw_decode(
            [line for line in result.stderr.splitlines() if line.startswith("{")][-1]
        )[0],
        "stderr": result.stderr,
        # The mocks the product page calls; the others only give their services a URL.
        "mocks": {name: mocks[name] for name in PAGE_SERVICES},
        "spans": list(receiver.spans),
    }


def log_lines(observed: dict[str, Any]) -> list[dict[str, Any]]:
    """Lines of the logger (none on a healthy page) and the request's canonical line (its EMF document)."""
    return [line for line in observed["lines"] if "_aws" not in line or "Responses" in line]


def emf_metrics(observed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for line in observed["lines"]:
        if "_aws" in line:
            for directive in line["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == "ProductBffTest"
                found.extend((metric["Name"], line) for metric in directive["Metrics"])
    return found


def test_one_correlation_id_runs_through_the_bff_and_every_mock(observed: dict[str, Any]) -> None:
    response = observed["response"]
    assert response["statusCode"] == 200
    assert response["headers"]["x-correlation-id"] == CORRELATION_ID
    assert {line.get("correlation_id") for line in log_lines(observed)} == {CORRELATION_ID}
    mocks: dict[str, MockProcess] = observed["mocks"]
    for mock in mocks.values():
        line = mock.wait_for_log_line(lambda entry: entry.get("event") == "response")
        assert line["correlation_id"] == CORRELATION_ID
        assert line["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
        assert line["traceparent"] != TRACEPARENT, "each call carries a span id of its own"


def test_each_mock_saw_the_traceparent_of_its_own_client_span_in_the_callers_trace(observed: dict[str, Any]) -> None:
    spans = observed["spans"]
    assert {span.trace_id for span in spans} == {"0af7651916cd43dd8448eb211c80319c"}
    (server,) = [span for span in spans if span.kind == "server"]
    assert server.parent_id == "b7ad6b7169203331"
    clients = {span.attributes["peer.service"]: span for span in spans if "peer.service" in span.attributes}
    mocks: dict[str, MockProcess] = observed["mocks"]
    assert set(clients) == set(mocks)
    for name, mock in mocks.items():
        line = mock.wait_for_log_line(lambda entry: entry.get("event") == "response")
        assert line["traceparent"].split("-")[2] == clients[name].span_id


def test_each_downstream_call_is_told_in_the_one_line_that_is_the_request_and_its_document(
    observed: dict[str, Any],
) -> None:
    (line,) = log_lines(observed)
    assert line["level"] == "INFO"
    assert (line["route"], line["method"], line["status"]) == ("/product-details/{productId}", "GET", 200)
    # Plain fetches that missed the cache are their metrics: a latency and a miss each
    assert "sections" not in line
    (server,) = [span for span in observed["spans"] if span.kind == "server"]
    assert (line["trace_id"], line["span_id"]) == (server.trace_id, server.span_id)
    for name in ("Product", "Reviews", "Inventory"):
        assert line[f"{name}Misses"] == [1]
    (document,) = [document for name, document in emf_metrics(observed) if name == "Responses"]
    assert document is line
    names = {name for name, found in emf_metrics(observed) if found is document}
    latency_names = sorted(name for name in names if name.endswith("Latency") and name != "PageLatency")
    assert latency_names == ["InventoryLatency", "ProductLatency", "ReviewsLatency"]
    for name in latency_names:
        (latency,) = document[name]
        assert latency >= 5
    assert "ColdStart" in {name for name, _ in emf_metrics(observed)}


def test_the_invocation_is_one_response_document_and_powertools_has_nothing_to_warn(observed: dict[str, Any]) -> None:
    (document,) = [line for name, line in emf_metrics(observed) if name == "Responses"]
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["service", "FunctionVersion"],
        ["service", "FunctionVersion", "StatusClass"],
    ]
    assert (document["service"], document["FunctionVersion"], document["StatusClass"]) == (
        "product-bff",
        "$LATEST",
        "2xx",
    )
    assert (document["Responses"], document["DegradedResponses"]) == ([1.0], [0.0])
    assert document["PageLatency"][0] >= 5
    assert "No application metrics" not in observed["stderr"]


def test_the_line_repeats_nothing_the_platform_lines_say(observed: dict[str, Any]) -> None:
    (line,) = log_lines(observed)
    for repeated in ("function_name", "function_request_id", "cold_start", "timestamp", "duration_ms"):
        assert repeated not in line
    # The cold start is the platform's Init Duration, and a metric of the invocation's own line, once per environment
    (cold_start,) = [document for name, document in emf_metrics(observed) if name == "ColdStart"]
    assert cold_start is line
    assert cold_start["ColdStart"] == [1]


def test_no_secret_reaches_any_log_line(observed: dict[str, Any]) -> None:
    assert len(log_lines(observed)) == 1
    for secret in (SECRET_TOKEN, "sk-live-7b1e9c", SECRET_COOKIE, "cookie-secret-51a"):
        assert secret not in observed["stdout"]
    mocks: dict[str, MockProcess] = observed["mocks"]
    for mock in mocks.values():
        mock.wait_for_log_line(lambda entry: entry.get("event") == "response")
        assert "sk-live-7b1e9c" not in mock.stdout_path.read_text()


def test_server_timing_names_each_section_and_the_total(observed: dict[str, Any]) -> None:
    header = observed["response"]["headers"]["server-timing"]
    names = [entry.split(";")[0].strip() for entry in header.split(",")]
    assert names == ["product", "reviews", "inventory", "total"]
    durations = [float(entry.split("dur=")[1]) for entry in header.split(",")]
    assert durations[-1] >= max(durations[:-1])
