"""The API Gateway event guard: what it changes so that Mangum can translate an event, and what it refuses."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bff.api.events import CannotTranslate, Translatable, normalise_event, payload_version, problem_answer
from bff.errors import UntranslatableEventError

PAGE = "/product-details/P001"


def v2_event(path: str = PAGE, *, stage: str = "$default", **fields: Any) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "GET /product-details/{productId}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc.execute-api.eu-west-1.amazonaws.com"},
        "requestContext": {
            "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "requestId": "req-1",
            "stage": stage,
            "http": {"method": "GET", "path": path, "sourceIp": "192.0.2.1"},
        },
        "isBase64Encoded": False,
        **fields,
    }


def v1_event(path: str = PAGE, *, stage: str = "prod", version: str | None = None, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "resource": "/product-details/{productId}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "abc.execute-api.eu-west-1.amazonaws.com"},
        "multiValueHeaders": {"Host": ["abc.execute-api.eu-west-1.amazonaws.com"]},
        "requestContext": {
            "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "requestId": "req-1",
            "stage": stage,
            "path": f"/{stage}{path}",
            "identity": {"sourceIp": "192.0.2.1"},
        },
        "isBase64Encoded": False,
        **fields,
    }
    if version is not None:
        event["version"] = version
    return event


def translated(event: object, *, base_path: str = "") -> dict[str, Any]:
    verdict = normalise_event(event, base_path=base_path)
    assert isinstance(verdict, Translatable), verdict
    return verdict.event


def routed_path(event: dict[str, Any]) -> str:
    """The path Mangum 0.22 routes on: requestContext.http.path for payload 2.0, `path` for 1.0."""
    path: str = event["requestContext"]["http"]["path"] if event.get("version") == "2.0" else event["path"]
    return path


@pytest.mark.parametrize("stage", ["prod", "Prod", "v1-beta"])
def test_a_named_http_api_stage_is_stripped_from_a_v2_path(stage: str) -> None:
    event = translated(v2_event(f"/{stage}{PAGE}", stage=stage))
    assert routed_path(event) == PAGE
    assert event["rawPath"] == PAGE


def test_a_named_http_api_stage_is_stripped_from_a_payload_1_0_path() -> None:
    assert routed_path(translated(v1_event(f"/prod{PAGE}", version="1.0"))) == PAGE


def test_a_rest_api_path_already_excludes_the_stage_and_is_left_alone() -> None:
    # Given a REST event: `path` has no stage, requestContext.path has it (as API Gateway sends them)
    event = v1_event(PAGE, stage="product-details")
    # Then the path Mangum routes on is kept, even when its first segment is named like the stage
    assert routed_path(translated(event)) == PAGE


@pytest.mark.parametrize(
    ("path", "stage"),
    [(PAGE, "$default"), (f"/prodx{PAGE}", "prod"), (PAGE, "")],
    ids=["default-stage", "not-a-whole-segment", "empty-stage"],
)
def test_a_path_without_its_stage_prefix_is_unchanged(path: str, stage: str) -> None:
    assert routed_path(translated(v2_event(path, stage=stage))) == path


@pytest.mark.parametrize("make", [v2_event, v1_event], ids=["v2", "v1"])
def test_the_base_path_is_stripped_as_a_whole_segment(make: Any) -> None:
    assert routed_path(translated(make(f"/shop{PAGE}"), base_path="/shop")) == PAGE
    assert routed_path(translated(make(f"/shopping{PAGE}"), base_path="/shop")) == f"/shopping{PAGE}"
    assert routed_path(translated(make("/shop"), base_path="/shop")) == "/"
    assert routed_path(translated(make(PAGE), base_path="/shop")) == PAGE


def test_stage_then_base_path_are_stripped_from_a_v2_path() -> None:
    event = translated(v2_event(f"/prod/shop{PAGE}", stage="prod"), base_path="/shop")
    assert (routed_path(event), event["rawPath"]) == (PAGE, PAGE)


def test_a_get_ignores_its_body_and_base64_flag() -> None:
    event = translated(v2_event(body="Hello from Lambda!", isBase64Encoded=True))
    assert (event["body"], event["isBase64Encoded"]) == (None, False)


@pytest.mark.parametrize(
    ("body", "is_base64"), [("Hello from Lambda!", True), ("héllo", True), ({"a": 1}, False), ("\ud800", False)]
)
def test_a_body_mangum_cannot_decode_is_refused_on_other_methods(body: object, is_base64: bool) -> None:
    event = v1_event(body=body, isBase64Encoded=is_base64, httpMethod="POST")
    assert isinstance(normalise_event(event), CannotTranslate)


def test_a_valid_base64_body_is_kept() -> None:
    event = translated(v1_event(body="SGVsbG8=", isBase64Encoded=True, httpMethod="POST"))
    assert (event["body"], event["isBase64Encoded"]) == ("SGVsbG8=", True)


@pytest.mark.parametrize(
    ("port", "kept"), [("443", "443"), ("443,443", "443"), ("https, 8443", "8443"), ("https", None)]
)
def test_x_forwarded_port_keeps_its_first_integer_or_is_dropped(port: str, kept: str | None) -> None:
    event = translated(v2_event(headers={"X-Forwarded-Port": port}))
    assert event["headers"].get("x-forwarded-port") == kept


def test_a_v1_multi_value_x_forwarded_port_becomes_one_value() -> None:
    event = translated(v1_event(multiValueHeaders={"X-Forwarded-Port": ["443", "443"]}))
    assert event["multiValueHeaders"]["x-forwarded-port"] == ["443"]


@pytest.mark.parametrize("host", ["api.example.com:8443:1", "api.example.com:https", "[::1]:443"])
def test_a_host_with_a_junk_port_falls_back_to_the_domain_name(host: str) -> None:
    event = translated(v2_event(headers={"host": host}))
    assert event["headers"]["host"] == "abc.execute-api.eu-west-1.amazonaws.com"


def test_a_host_with_a_junk_port_and_no_domain_name_is_dropped() -> None:
    event = v2_event(headers={"host": "a:b:c"})
    del event["requestContext"]["domainName"]
    assert "host" not in translated(event)["headers"]


def test_a_host_with_one_integer_port_is_kept() -> None:
    assert translated(v2_event(headers={"host": "localhost:3000"}))["headers"]["host"] == "localhost:3000"


@pytest.mark.parametrize("field", ["headers", "multiValueHeaders", "queryStringParameters", "cookies"])
def test_null_collections_become_empty(field: str) -> None:
    nulls: dict[str, Any] = {field: None}
    for event in (translated(v2_event(**nulls)), translated(v1_event(**nulls))):
        assert not event.get(field)


def test_header_values_that_are_not_text_are_dropped() -> None:
    event = translated(v2_event(headers={"a": None, "b": 1, "c": "\ud800", "d": "kept"}))
    assert event["headers"] == {"d": "kept"}


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "version requestContext",
        {"type": "TOKEN", "authorizationToken": "x", "methodArn": "arn"},
        {"requestContext": {"elb": {"targetGroupArn": "arn"}}, "httpMethod": "GET", "path": PAGE},
        {"version": "2.0", "requestContext": {}},
        {"version": "2.0", "requestContext": {"http": {"method": None, "path": PAGE}}},
        {"httpMethod": 1, "path": PAGE},
        {"httpMethod": "GET", "path": 7},
    ],
    ids=["null", "list", "string", "authorizer", "alb", "v2-no-http", "v2-no-method", "v1-method-number", "path-7"],
)
def test_events_that_are_not_api_gateway_requests_cannot_be_translated(event: object) -> None:
    assert isinstance(normalise_event(event), CannotTranslate)


def test_the_given_event_is_never_changed() -> None:
    event = v1_event(
        f"/shop{PAGE}",
        headers=None,
        multiValueHeaders={"X-Forwarded-Port": ["443", "443"]},
        body="junk",
        isBase64Encoded=True,
    )
    original = copy.deepcopy(event)
    translated(event, base_path="/shop")
    assert event == original


def test_problem_answers_take_the_event_payload_format() -> None:
    correlation_id, v2 = problem_answer(v2_event(), UntranslatableEventError("test"))
    _, v1 = problem_answer(v1_event(), RuntimeError("internal text"))
    assert correlation_id == "req-1"
    assert "multiValueHeaders" not in v2
    assert v1["multiValueHeaders"] == {}
    assert json.loads(v2["body"])["status"] == 400
    assert json.loads(v1["body"])["status"] == 500
    assert (payload_version(v2_event()), payload_version(v1_event(version="1.0")), payload_version(None)) == (
        "2.0",
        "1.0",
        "1.0",
    )
