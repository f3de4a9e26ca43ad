"""Every invocation of the real Lambda handler, whatever its status, counts in exactly one response document."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from bff.observability import logging as observed_logging
from bff.observability.metrics import METRICS_NAMESPACE, RESPONSE_DIMENSION_SETS, InvocationRecord, count_responses
from tests.conftest import load_event
from tests.support.fake_downstream import FakeDownstream, handler_over
from tests.support.lambda_context import FakeLambdaContext
from tests.support.log_lines import Lines, dimension_sets, metric_names
from tests.support.overrides import override_pages

# Any Powertools "No application metrics to publish" warning fails the test it is raised in.
pytestmark = pytest.mark.filterwarnings("error::UserWarning")


@pytest.fixture(scope="module")
def fake() -> FakeDownstream:
    return FakeDownstream()


@pytest.fixture(scope="module")
def handler_module(fake: FakeDownstream) -> Iterator[ModuleType]:
    """The real `bff.handler`, its innermost transport replaced by the in-process fake services."""
    # No fragment cache: failures scripted after good pages must reach the page.
    with handler_over(fake, RETRY_MAX_ATTEMPTS="1", CACHE_L1_MAX_ENTRIES="0") as module:
        yield module


@pytest.fixture(autouse=True)
def healthy(fake: FakeDownstream) -> None:
    fake.scripts.clear()


def page_event(path: str = "/product-details/P001", *, method: str = "GET", query: str = "") -> dict[str, Any]:
    event = copy.deepcopy(load_event("bff-v2-P001.json"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = query
    return event


def response_documents(emf: Lines) -> list[dict[str, Any]]:
    return [document for document in emf() if "Responses" in document]


def invoke(handler_module: ModuleType, event: object, emf: Lines) -> tuple[int, dict[str, Any]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = handler_module.lambda_handler(event, FakeLambdaContext(function_version="7"))
    assert not [warning for warning in caught if "No application metrics" in str(warning.message)]
    (document,) = response_documents(emf)
    return response["statusCode"], document


@pytest.mark.parametrize(
    ("event", "status", "status_class"),
    [
        (page_event(), 200, "2xx"),
        (page_event("/product-details/P001", query="a=1"), 400, "4xx"),
        (page_event("/product-details/not%20an%20id"), 400, "4xx"),
        (page_event("/no-such-route"), 404, "4xx"),
        (page_event(method="POST"), 405, "4xx"),
        (None, 400, "4xx"),
        ({"version": "2.0", "requestContext": None}, 400, "4xx"),
    ],
    ids=["page", "query", "invalid-id", "route-404", "method-405", "guard-not-an-event", "guard-untranslatable"],
)
def test_every_answer_is_one_response_document_with_its_status_class(
    event: object, status: int, status_class: str, handler_module: ModuleType, emf: Lines
) -> None:
    # Given any event  When the real handler answers it
    answered, document = invoke(handler_module, event, emf)
    # Then it is counted once, by service and version, and by those and its status class, not degraded
    assert answered == status
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == METRICS_NAMESPACE
    assert dimension_sets(document) == [list(dimensions) for dimensions in RESPONSE_DIMENSION_SETS]
    assert metric_names(document)[:3] == ["Responses", "DegradedResponses", "PageLatency"]
    # (a page's calls and cache lookups are named in the same document, by service and section, and so is the
    # environment's cold start on its first invocation)
    assert set(metric_names(document)[3:]) <= {
        f"{name}{kind}" for name in ("Product", "Reviews", "Inventory") for kind in ("Latency", "Misses", "L1Hits")
    } | {"ColdStart"}
    assert document["service"] == observed_logging.SERVICE_NAME
    assert (document["FunctionVersion"], document["StatusClass"]) == ("7", status_class)
    assert (document["Responses"], document["DegradedResponses"]) == ([1.0], [0.0])
    assert document["PageLatency"][0] > 0


@pytest.mark.parametrize("failure", [{"status": 503}, {"error": httpx.ConnectError}], ids=["503", "connect-error"])
def test_a_degraded_page_is_a_2xx_counted_as_degraded(
    failure: dict[str, Any], handler_module: ModuleType, emf: Lines, fake: FakeDownstream
) -> None:
    # Given the reviews service fails
    fake.script("reviews", **failure)
    # When the page is requested
    response = handler_module.lambda_handler(page_event(), FakeLambdaContext())
    documents = emf()
    # Then the page is served degraded, counted as one degraded 2xx, and its section by section and reason
    assert response["statusCode"] == 200
    (page,) = [document for document in documents if "Responses" in document]
    assert (page["StatusClass"], page["Responses"], page["DegradedResponses"]) == ("2xx", [1.0], [1.0])
    assert page["ReviewsDegraded"] == [1.0]
    assert [document for document in documents if "ReviewsDegraded" in document] == [page]


def test_the_catch_all_500_is_counted_as_a_5xx(
    handler_module: ModuleType, emf: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the page service fails in a way nothing in the app expects
    class BrokenPages:
        async def render(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("bug")

    # The handler module serves the whole test module: the override is undone after this test.
    monkeypatch.setattr(handler_module.app, "dependency_overrides", {})
    override_pages(handler_module.app, BrokenPages())
    # When the page is requested
    answered, document = invoke(handler_module, page_event(), emf)
    # Then the catch-all answers 500, and it is counted as a 5xx
    assert answered == 500
    assert (document["StatusClass"], document["Responses"], document["DegradedResponses"]) == ("5xx", [1.0], [0.0])


def test_the_event_guards_500_is_counted_as_a_5xx(
    handler_module: ModuleType, emf: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Mangum itself fails
    def broken(event: object, context: object, record: object) -> dict[str, Any]:
        raise RuntimeError("adapter bug")

    monkeypatch.setattr(handler_module, "_serve", broken)
    # When the page is requested  Then the guard's 500 is counted as a 5xx
    answered, document = invoke(handler_module, page_event(), emf)
    assert (answered, document["StatusClass"]) == (500, "5xx")


def test_a_handler_that_raises_is_counted_as_a_5xx_and_still_raises(emf: Lines) -> None:
    def raising(event: dict[str, Any], context: Any, record: InvocationRecord) -> dict[str, Any]:
        raise RuntimeError("escaped")

    with pytest.raises(RuntimeError, match="escaped"):
        count_responses(raising)({}, FakeLambdaContext())
    (document,) = response_documents(emf)
    assert document["StatusClass"] == "5xx"


def test_shared_cache_errors_during_an_invocation_are_counted_in_its_one_line(emf: Lines, log_lines: Lines) -> None:
    # Given a handler whose shared cache times out once and is throttled once
    def with_cache_errors(event: dict[str, Any], context: Any, record: InvocationRecord) -> dict[str, Any]:
        record.record_cache_error("timeout")
        record.record_cache_error("throttled")
        return {"statusCode": 200}

    # When it is invoked
    count_responses(with_cache_errors)({}, FakeLambdaContext())
    # Then the invocation wrote one line, a WARNING that names and counts both errors, and nothing else
    (line,) = emf()
    assert line["level"] == "WARNING"
    assert line["cache_errors"] == ["l2:timeout", "l2:throttled"]
    assert (line["CacheErrors"], line["CacheErrorsTimeout"], line["CacheErrorsThrottled"]) == ([2], [1], [1])
    assert log_lines() == []
