"""API Gateway events written by others (tests/events/external, licenses beside them) through the real handler.

Each event is adapted to our route (only the path fields it has), then sent as written, as a plain GET, and with
one-field variations that once made Mangum raise. The downstream services answer in process (no network).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.fake_downstream import FakeDownstream, handler_over
from tests.support.lambda_context import FakeLambdaContext
from tests.support.log_lines import Lines

EXTERNAL_DIR = Path(__file__).parent / "external"
SOURCES = ("aws-lambda-go", "mangum", "powertools", "sam-cli")
ROUTE_PATH = "/product-details/P001"
PROBLEM_JSON = "application/problem+json"

type Event = Any
type Variation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    event: Event
    expected: int


def load_external() -> dict[str, Event]:
    return {
        f"{path.parent.name}/{path.name}": json.loads(path.read_text())
        for source in SOURCES
        for path in sorted((EXTERNAL_DIR / source).glob("*.json"))
    }


def family_of(event: Event) -> str:
    if isinstance(event, dict) and event.get("version") == "2.0":
        return "v2"
    if isinstance(event, dict) and "httpMethod" in event:
        return "v1"
    return "not-a-proxy-request"


def adapt(event: Event) -> Event:
    """Our route in the path fields the event has; everything else as its authors wrote it."""
    event = copy.deepcopy(event)
    if family_of(event) == "not-a-proxy-request":
        return event
    context = event.get("requestContext")
    for holder, key, value in (
        (event, "rawPath", ROUTE_PATH),
        (event, "path", ROUTE_PATH),
        (event, "resource", "/product-details/{productId}"),
        (event, "pathParameters", {"productId": "P001"}),
        (context, "resourcePath", "/product-details/{productId}"),
        (context, "path", ROUTE_PATH),
        ((context or {}).get("http"), "path", ROUTE_PATH),
    ):
        if isinstance(holder, dict) and key in holder:
            holder[key] = value
    if isinstance(event.get("routeKey"), str) and event["routeKey"] != "$default":
        event["routeKey"] = f"{method_of(event)} /product-details/{{productId}}"
    return event


def method_of(event: dict[str, Any]) -> str:
    if family_of(event) == "v2":
        return str(event["requestContext"]["http"]["method"])
    return str(event["httpMethod"])


def set_method(event: dict[str, Any], method: str) -> None:
    if family_of(event) == "v2":
        event["requestContext"]["http"]["method"] = method
    else:
        event["httpMethod"] = method


def set_header(event: dict[str, Any], name: str, value: Any) -> None:
    """Replaces the header whatever its case, in multiValueHeaders too (which Mangum reads over headers)."""
    headers = event.get("headers") or {}
    event["headers"] = {key: item for key, item in headers.items() if key.lower() != name} | {name: value}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and any(key.lower() == name for key in multi):
        event["multiValueHeaders"] = {key: item for key, item in multi.items() if key.lower() != name}
        event["multiValueHeaders"][name] = [value]


def as_plain_get(event: dict[str, Any]) -> None:
    set_method(event, "GET")
    for key in ("queryStringParameters", "multiValueQueryStringParameters"):
        if key in event:
            event[key] = None
    if "rawQueryString" in event:
        event["rawQueryString"] = ""


def expected_as_written(event: Event) -> int:
    """What the app answers: 405 for a method other than GET, 400 for any query parameter, else the page."""
    if family_of(event) == "not-a-proxy-request":
        return 400
    if method_of(event) != "GET":
        return 405
    has_query = event.get("rawQueryString") or event.get("queryStringParameters")
    return 400 if has_query or event.get("multiValueQueryStringParameters") else 200


def _post_with(body: Any, *, base64: bool) -> Variation:
    def vary(event: dict[str, Any]) -> None:
        set_method(event, "POST")
        event["body"], event["isBase64Encoded"] = body, base64

    return vary


def _set(key: str, value: Any) -> Variation:
    return lambda event: event.__setitem__(key, value)


def _header(name: str, value: Any) -> Variation:
    return lambda event: set_header(event, name, value)


def _context(key: str, value: Any, *, under_http: bool = False) -> Variation:
    def vary(event: dict[str, Any]) -> None:
        context = event.setdefault("requestContext", {})
        (context["http"] if under_http else context)[key] = value

    return vary


def _drop_context(key: str) -> Variation:
    return lambda event: event.get("requestContext", {}).pop(key, None)


def _drop_http(key: str) -> Variation:
    return lambda event: event["requestContext"]["http"].pop(key, None)


def _multi(name: str, values: Any) -> Variation:
    def vary(event: dict[str, Any]) -> None:
        event["headers"] = {key: item for key, item in (event.get("headers") or {}).items() if key.lower() != name}
        multi = event.get("multiValueHeaders") or {}
        event["multiValueHeaders"] = {key: item for key, item in multi.items() if key.lower() != name} | {name: values}

    return vary


def _junk_host_without_domain_name(event: dict[str, Any]) -> None:
    event["requestContext"].pop("domainName", None)
    set_header(event, "host", "a:b:c")


def _on_stage(event: dict[str, Any], stage: str) -> None:
    event["requestContext"]["stage"] = stage
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/{stage}{ROUTE_PATH}"


# name -> (variation, answer); the base is each event as a plain GET of our page.
COMMON_VARIATIONS: dict[str, tuple[Variation, int]] = {
    "get-base64-flag-on-text-body": (lambda e: e.update(body="Hello from Lambda!", isBase64Encoded=True), 200),
    "get-with-a-json-object-body": (lambda e: e.update(body={"a": 1}, isBase64Encoded=False), 200),
    "get-base64-flag-as-string": (lambda e: e.update(body="Hello from Lambda!", isBase64Encoded="true"), 200),
    "body-null": (_set("body", None), 200),
    "x-forwarded-port-https": (_header("x-forwarded-port", "https"), 200),
    "x-forwarded-port-joined": (_header("x-forwarded-port", "443,443"), 200),
    "x-forwarded-port-empty": (_header("x-forwarded-port", ""), 200),
    "host-two-colons": (_header("host", "api.example.com:8443:1"), 200),
    "host-junk-port": (_header("host", "api.example.com:https"), 200),
    "host-ipv6": (_header("host", "[::1]:443"), 200),
    "header-value-null": (_header("x-forwarded-proto", None), 200),
    "header-value-number": (_header("x-forwarded-port", 443), 200),
    "header-value-lone-surrogate": (_header("user-agent", "\ud800"), 200),
    "headers-null": (_set("headers", None), 200),
    "headers-a-list": (_set("headers", ["host: x"]), 200),
    "body-lone-surrogate-get": (_set("body", "\ud800"), 200),
    "post-base64-flag-on-text-body": (_post_with("Hello from Lambda!", base64=True), 400),
    "post-base64-flag-on-non-ascii": (_post_with("héllo", base64=True), 400),
    "post-json-object-body": (_post_with({"a": 1}, base64=False), 400),
    "post-valid-base64-body": (_post_with("SGVsbG8=", base64=True), 405),
    "post-text-body": (_post_with("field1=value1", base64=False), 405),
    "delete-lone-surrogate-body": (_post_with("\ud800", base64=False), 400),
    "head": (lambda e: set_method(e, "HEAD"), 405),
    "method-lowercase": (lambda e: set_method(e, "get"), 405),
    "method-null": (lambda e: set_method(e, None), 400),  # type: ignore[arg-type]
    "method-number": (lambda e: set_method(e, 1), 400),  # type: ignore[arg-type]
    "request-id-missing": (_drop_context("requestId"), 200),
    "client-correlation-id": (_header("x-correlation-id", "client-abc-123"), 200),
}
V1_VARIATIONS: dict[str, tuple[Variation, int]] = {
    "multi-value-x-forwarded-port-twice": (_multi("x-forwarded-port", ["443", "443"]), 200),
    "multi-value-x-forwarded-port-https": (_multi("x-forwarded-port", ["https"]), 200),
    "multi-value-host-two-colons": (_multi("host", ["api.example.com:8443:1"]), 200),
    "multi-value-host-twice": (_multi("host", ["a.example.com:443", "b.example.com:443"]), 200),
    "multi-value-entry-not-a-list": (_set("multiValueHeaders", {"accept": "*/*"}), 200),
    "multi-value-entry-null-item": (_multi("accept", [None]), 200),
    "multi-value-headers-null": (_set("multiValueHeaders", None), 200),
    "multi-value-headers-a-list": (_set("multiValueHeaders", []), 200),
    "query-parameters-null": (_set("queryStringParameters", None), 200),
    "query-parameters-a-list": (_set("multiValueQueryStringParameters", [["a"]]), 200),
    "request-context-null": (_set("requestContext", None), 200),
    "request-context-missing": (lambda e: e.pop("requestContext", None), 200),
    "identity-null": (_context("identity", None), 200),
    "source-ip-number": (_context("identity", {"sourceIp": 1}), 200),
    "resource-missing": (lambda e: e.pop("resource", None) and e.pop("version", None), 200),
    "path-number": (_set("path", 7), 400),
    "path-null": (_set("path", None), 404),
}
V2_VARIATIONS: dict[str, tuple[Variation, int]] = {
    "cookies-null": (_set("cookies", None), 200),
    "cookies-a-string": (_set("cookies", "a=b"), 200),
    "cookies-with-null": (_set("cookies", [None, "a=b"]), 200),
    "raw-query-string-null": (_set("rawQueryString", None), 200),
    "query-parameters-null": (_set("queryStringParameters", None), 200),
    "source-ip-missing": (_drop_http("sourceIp"), 200),
    "http-path-missing": (_drop_http("path"), 200),
    "domain-name-missing-with-junk-host": (_junk_host_without_domain_name, 200),
    "http-null": (_context("http", None), 400),
    "request-context-null": (_set("requestContext", None), 400),
    "named-stage": (lambda e: _on_stage(e, "prod"), 200),
}


NOT_EVENTS: dict[str, Event] = {"null": None, "a-list": [], "a-string": "version requestContext", "a-number": 42}


def build_cases() -> list[Case]:
    """Every event as written and as a plain GET; the variations on the first event of each source and family."""
    cases: list[Case] = []
    varied: set[tuple[str, str]] = set()
    for name, raw in load_external().items():
        family = family_of(raw)
        adapted = adapt(raw)
        cases.append(Case(f"{name}", family, adapted, expected_as_written(adapted)))
        if family == "not-a-proxy-request":
            continue
        base = copy.deepcopy(adapted)
        as_plain_get(base)
        cases.append(Case(f"{name}+plain-get", family, base, 200))
        source = name.split("/")[0]
        if (source, family) in varied:
            continue
        varied.add((source, family))
        variations = COMMON_VARIATIONS | (V2_VARIATIONS if family == "v2" else V1_VARIATIONS)
        for variation_name, (vary, expected) in variations.items():
            event = copy.deepcopy(base)
            vary(event)
            cases.append(Case(f"{name}+{variation_name}", family, event, expected))
    cases += [Case(f"not-an-event/{name}", "not-a-proxy-request", event, 400) for name, event in NOT_EVENTS.items()]
    return cases


CASES = build_cases()


@pytest.fixture(scope="module")
def in_process_handler() -> Iterator[ModuleType]:
    """The real `bff.handler` module, its innermost transport replaced by the in-process fake services."""
    with handler_over(FakeDownstream(), POWERTOOLS_METRICS_DISABLED="true") as module:
        yield module


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    return {key.lower(): value for key, value in response["headers"].items()}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_event_gets_an_api_gateway_answer(case: Case, in_process_handler: ModuleType) -> None:
    # Given an event written by others, adapted to our route or varied by one field
    before = json.dumps(case.event, sort_keys=True)
    # When the real Lambda handler gets it
    response = in_process_handler.lambda_handler(case.event, FakeLambdaContext())
    # Then it answers, in the event's payload format, with a correlation id, and leaves the event as it was
    assert isinstance(response, dict)
    assert response["statusCode"] == case.expected, response.get("body")
    headers = headers_of(response)
    assert headers["x-correlation-id"]
    assert headers["x-content-type-options"] == "nosniff"
    if case.family == "v2":
        assert "multiValueHeaders" not in response
    else:
        assert isinstance(response["multiValueHeaders"], dict)
    if case.expected == 200:
        assert json.loads(response["body"])["product"]["name"] == "Awesome Gadget P001"
    else:
        assert headers["content-type"] == PROBLEM_JSON
        assert json.loads(response["body"])["status"] == case.expected
        assert json.loads(response["body"])["correlationId"] == headers["x-correlation-id"]
    assert json.dumps(case.event, sort_keys=True) == before


def test_the_corpus_holds_every_source_and_family() -> None:
    # Given the corpus  Then each source holds events, with its license beside them, and every family is present
    for source in SOURCES:
        assert list((EXTERNAL_DIR / source).glob("*.json")), source
        assert "License" in (EXTERNAL_DIR / source / "NOTICE").read_text()
    families = Counter(case.family for case in CASES)
    assert set(families) == {"v1", "v2", "not-a-proxy-request"}
    served = Counter(case.family for case in CASES if case.expected == 200)
    assert served["v1"] >= 20
    assert served["v2"] >= 10


@pytest.fixture
def logged(log_lines: Lines) -> Callable[[str], list[dict[str, Any]]]:
    """The BFF logger's JSON lines with a given message."""
    return lambda message: [line for line in log_lines() if line.get("message") == message]


def test_the_correlation_id_is_the_request_id_or_a_valid_client_header(
    in_process_handler: ModuleType, logged: Callable[[str], list[dict[str, Any]]]
) -> None:
    # Given an untranslatable v2 event (a POST with a body that is not base64) with a request id
    event = adapt(json.loads((EXTERNAL_DIR / "powertools" / "apiGatewayProxyV2Event.json").read_text()))
    event.update(body="Hello from Lambda!", isBase64Encoded=True)
    # When the handler answers it
    response = in_process_handler.lambda_handler(event, FakeLambdaContext())
    # Then the 400 carries API Gateway's request id, in the payload 2.0 format
    assert response["statusCode"] == 400
    assert headers_of(response)["x-correlation-id"] == event["requestContext"]["requestId"]
    assert headers_of(response)["cache-control"] == "no-store"
    # And one log line says why, under that correlation id
    [line] = logged("event cannot be translated")
    assert line["correlation_id"] == event["requestContext"]["requestId"]
    assert line["reason"] == "the body is flagged base64 but does not decode"
    # And a well-formed client header wins over it
    set_header(event, "x-correlation-id", "client-abc-123")
    assert headers_of(in_process_handler.lambda_handler(event, FakeLambdaContext()))["x-correlation-id"] == (
        "client-abc-123"
    )


def test_a_failure_inside_mangum_answers_500_problem_json(
    in_process_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    logged: Callable[[str], list[dict[str, Any]]],
) -> None:
    # Given Mangum itself fails on a servable event
    def broken(event: object, context: object, record: object) -> dict[str, Any]:
        raise RuntimeError("adapter bug")

    monkeypatch.setattr(in_process_handler, "_serve", broken)
    event = adapt(json.loads((EXTERNAL_DIR / "sam-cli" / "apigateway-aws-proxy.json").read_text()))
    # When the handler gets it
    response = in_process_handler.lambda_handler(event, FakeLambdaContext())
    # Then it answers 500 problem+json in the payload 1.0 format, with no internal text
    assert response["statusCode"] == 500
    assert headers_of(response)["content-type"] == PROBLEM_JSON
    assert "multiValueHeaders" in response
    assert "adapter bug" not in response["body"]
    # And the log line has the traceback, under the answer's correlation id
    [line] = logged("the event adapter failed")
    assert line["correlation_id"] == headers_of(response)["x-correlation-id"]
    assert "adapter bug" in line["exception"]


def _served_as(
    source_file: str, path: str, stage: str | None, handler: ModuleType
) -> tuple[dict[str, Any], dict[str, Any]]:
    event = adapt(json.loads((EXTERNAL_DIR / source_file).read_text()))
    as_plain_get(event)
    context = event["requestContext"]
    if stage is not None:
        context["stage"] = stage
    if family_of(event) == "v2":
        event["rawPath"] = context["http"]["path"] = path
    else:
        event["path"] = path
        context["path"] = f"/{context['stage']}{path}"
    return event, handler.lambda_handler(event, FakeLambdaContext())


STAGED_EVENTS = [
    ("sam-cli/apigateway-http-api-proxy.json", "/prod" + ROUTE_PATH, "prod"),  # HTTP API, payload 2.0
    ("powertools/apiGatewayProxyEvent.json", "/prod" + ROUTE_PATH, "prod"),  # HTTP API, payload 1.0
    ("sam-cli/apigateway-aws-proxy.json", ROUTE_PATH, "prod"),  # REST: `path` never holds the stage
]


@pytest.mark.parametrize(("source_file", "path", "stage"), STAGED_EVENTS, ids=["v2", "v1-http-api", "v1-rest"])
def test_a_named_stage_serves_the_page(source_file: str, path: str, stage: str, in_process_handler: ModuleType) -> None:
    # Given a GET of our page on a named stage  When the handler gets it  Then the page is served
    _, response = _served_as(source_file, path, stage, in_process_handler)
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["product"]["id"] == "P001"


@pytest.mark.parametrize(
    "source_file", ["sam-cli/apigateway-http-api-proxy.json", "sam-cli/apigateway-aws-proxy.json"], ids=["v2", "v1"]
)
def test_the_configured_base_path_serves_the_page(
    source_file: str, in_process_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given API_BASE_PATH=/shop and a request through the custom domain mapping
    settings = in_process_handler.settings.model_copy(update={"api_base_path": "/shop"})
    monkeypatch.setattr(in_process_handler, "settings", settings)
    _, response = _served_as(source_file, "/shop" + ROUTE_PATH, None, in_process_handler)
    # Then the page is served; and a path outside the base path is still routed as written (404)
    assert response["statusCode"] == 200, response["body"]
    _, other = _served_as(source_file, "/shopping" + ROUTE_PATH, None, in_process_handler)
    assert other["statusCode"] == 404


def test_without_a_base_path_the_prefixed_path_is_not_found(in_process_handler: ModuleType) -> None:
    _, response = _served_as("sam-cli/apigateway-http-api-proxy.json", "/shop" + ROUTE_PATH, None, in_process_handler)
    assert response["statusCode"] == 404
