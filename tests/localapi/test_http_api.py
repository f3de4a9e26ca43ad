"""The HTTP API behaviour in front of SAM's Flask app: raw-path routing, Not Found, preflights and CORS headers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from localapi.http_api import (
    CorsPolicy,
    HttpApiGateway,
    HttpApiRoute,
    RequestTarget,
    as_deployed,
    cors_by_route,
    is_utf8,
    raw_request_path,
    request_target,
    routing_path,
    unescape,
)
from tests.support.tooling import REPO_ROOT

ORIGIN = "http://127.0.0.1:8900"
POLICY = CorsPolicy(
    allow_origins=frozenset({ORIGIN}),
    allow_methods=("GET",),
    allow_headers=("x-correlation-id",),
    expose_headers=("server-timing",),
    max_age_s=600,
)


class CloudFormationLoader(yaml.SafeLoader):
    """Short-form intrinsics (!Ref, !If, ...) as their long form, as SAM's own parser reads them."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def project_template() -> dict[str, Any]:
    document: dict[str, Any] = yaml.load((REPO_ROOT / "template.yaml").read_text(), CloudFormationLoader)
    return document


class Recorder:
    """The wrapped app: records what it was asked and answers 200 with the given headers."""

    def __init__(self, headers: list[tuple[str, str]] | None = None) -> None:
        self.paths: list[str] = []
        self._headers = headers or []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.paths.append(environ["PATH_INFO"])
        start_response("200 OK", self._headers)
        return [b"from the function"]


def call(gateway: HttpApiGateway, method: str, target: str, **headers: str) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: object = None) -> Any:
        answer.update(status=status, headers=dict(response_headers))
        return lambda _: None

    environ = {"REQUEST_METHOD": method, "REQUEST_URI": target, "PATH_INFO": "/decoded-by-the-server"}
    environ |= {f"HTTP_{name.upper()}": value for name, value in headers.items()}
    body = b"".join(gateway(environ, start_response))
    return answer["status"], answer["headers"], body


def page_gateway(app: Recorder, cors: CorsPolicy | None = None) -> HttpApiGateway:
    routes = [
        HttpApiRoute.of(["GET"], "/product-details/{productId}", "BffFunction", cors),
        HttpApiRoute.of(["GET"], "/products/{id}", "ProductMockFunction", None),
    ]
    return HttpApiGateway(app, routes)


@pytest.mark.parametrize(
    ("raw", "routed"),
    [
        ("/product-details/P001", "/product-details/P001"),
        ("/product-details/..%2Fadmin", "/product-details/..%2Fadmin"),
        ("/product-details/%2e%2e%2Fadmin", "/product-details/..%2Fadmin"),
        ("/product-details/100%25", "/product-details/100%25"),
        ("/product-details/%252F", "/product-details/%252F"),
        ("/a%20b", "/a b"),
    ],
)
def test_a_raw_path_is_decoded_segment_by_segment_keeping_slash_and_percent_escaped(raw: str, routed: str) -> None:
    # Given a raw request path
    # When it is turned into the path Flask routes on
    # Then each segment is decoded, but a decoded "/" or "%" cannot make or break a segment
    assert routing_path(raw) == routed


def test_unescaping_a_routed_path_gives_the_fully_decoded_path() -> None:
    # Given a raw path with an encoded slash and an encoded percent sign
    routed = routing_path("/product-details/..%2Fadmin%2525")

    # When the event's path is unescaped
    # Then it is the path decoded once, as API Gateway gives it
    assert unescape(routed) == "/product-details/../admin%25"


def test_a_non_utf8_escape_survives_as_wsgi_latin1() -> None:
    # Given a percent-escape that is not UTF-8
    # When it is routed
    # Then PATH_INFO carries the byte as latin-1, as a WSGI server would
    assert routing_path("/a%FF") == "/a\xff"


@pytest.mark.parametrize(("target", "path"), [("/p?x=1", "/p"), ("http://host:3000/p%2F?q", "/p%2F"), ("/", "/")])
def test_the_raw_path_comes_from_the_request_target(target: str, path: str) -> None:
    assert raw_request_path({"REQUEST_URI": target}) == path


def werkzeug_request_uri(wire: bytes) -> str:
    """REQUEST_URI as werkzeug's dev server gives it: the line read as latin-1, then UTF-8-encoded read as latin-1."""
    return wire.decode("latin-1").encode().decode("latin-1")


@pytest.mark.parametrize(
    ("wire", "target"),
    [
        (b"/product-details/P%2530%2530%2531", RequestTarget("/product-details/P%2530%2530%2531", "")),
        (b"/p?q=%FF&r=a%2Cb", RequestTarget("/p", "q=%FF&r=a%2Cb")),
        # Bytes a client must have escaped: raw UTF-8, raw invalid UTF-8, a raw control byte
        (b"/p/\xe2\x82\xac", RequestTarget("/p/%E2%82%AC", "")),
        (b"/p/P\xff01?lang=\xff", RequestTarget("/p/P%FF01", "lang=%FF")),
        (b"/p/\x7f", RequestTarget("/p/%7F", "")),
    ],
)
def test_the_request_target_is_the_wire_bytes_in_ascii(wire: bytes, target: RequestTarget) -> None:
    # Given a request target as werkzeug's dev server hands it on
    # When it is read back
    # Then it is what the client sent, with any byte that is not printable ASCII percent-encoded
    assert request_target({"REQUEST_URI": werkzeug_request_uri(wire)}) == target


def test_a_raw_utf8_segment_routes_as_its_escaped_form() -> None:
    # Given a raw UTF-8 "€" in the path (not escaped by the client)
    path = raw_request_path({"REQUEST_URI": werkzeug_request_uri("/p/€".encode())})

    # Then Flask routes on its bytes as WSGI latin-1 (which Flask reads as UTF-8), not on mojibake
    assert path is not None
    assert routing_path(path) == "/p/" + "€".encode().decode("latin-1")


def sam_v2_event(routed_path: str, parameters: dict[str, str]) -> dict[str, Any]:
    """The parts of the v2 event SAM builds from the routed request: its path and Flask's path parameters, decoded
    with "%" and "/" kept escaped."""
    return {
        "version": "2.0",
        "rawPath": routed_path,
        "rawQueryString": "",
        "pathParameters": parameters,
        "requestContext": {"http": {"method": "GET", "path": routed_path}},
    }


@pytest.mark.parametrize(
    ("wire_path", "parameter"),
    [
        ("/product-details/P%2530%2530%2531", "P%30%30%31"),
        ("/product-details/%252F", "%2F"),
        ("/product-details/..%2Fadmin", "../admin"),
        ("/product-details/P%00%0D%0A", "P\x00\r\n"),
    ],
)
def test_the_v2_event_has_the_raw_path_and_parameters_decoded_once(wire_path: str, parameter: str) -> None:
    # Given SAM's event for a request, built from the path Flask routed
    routed = routing_path(wire_path)
    event = sam_v2_event(routed, {"productId": routed.removeprefix("/product-details/")})

    # When it is made what API Gateway sends
    deployed = as_deployed(event, RequestTarget(wire_path, "a=%FF"))

    # Then the path parameter is decoded exactly once, and rawPath and requestContext.http.path are as sent
    # (Mangum decodes the latter once more into the app's path, exactly once in all)
    assert deployed["pathParameters"] == {"productId": parameter}
    assert deployed["rawPath"] == deployed["requestContext"]["http"]["path"] == wire_path
    assert deployed["rawQueryString"] == "a=%FF"
    assert unquote(deployed["requestContext"]["http"]["path"]).removeprefix("/product-details/") == parameter


def test_the_v2_query_parameters_are_decoded_once_from_the_raw_query() -> None:
    event = sam_v2_event("/p", {})

    deployed = as_deployed(event, RequestTarget("/p", "q=%2541&r=%FF&q=b%2Cc&empty="))

    assert deployed["queryStringParameters"] == {"q": "%41,b,c", "r": "\ufffd", "empty": ""}


def test_a_v1_event_path_is_as_sent() -> None:
    routed = routing_path("/p/%2561")
    event = {"path": routed, "requestContext": {"path": routed}, "pathParameters": {"id": "%2561"}}

    deployed = as_deployed(event, RequestTarget("/p/%2561", ""))

    assert (deployed["path"], deployed["requestContext"]["path"]) == ("/p/%2561", "/p/%2561")
    assert deployed["pathParameters"] == {"id": "%61"}


@pytest.mark.parametrize(("body", "utf8"), [(b"", True), (b'{"a": "\xe2\x82\xac"}', True), (b"\xff\xfe\x00", False)])
def test_a_body_is_utf8_or_not(body: bytes, utf8: bool) -> None:
    assert is_utf8(body) is utf8


def test_an_encoded_slash_reaches_the_function_route_as_one_segment() -> None:
    # Given the page route
    app = Recorder()

    # When an id with an encoded slash is requested
    status, _, body = call(page_gateway(app), "GET", "/product-details/..%2Fadmin")

    # Then the function's route got it, with the slash still escaped for Flask
    assert (status, body) == ("200 OK", b"from the function")
    assert app.paths == ["/product-details/..%2Fadmin"]


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/nope"),
        ("GET", "/product-details/"),
        ("GET", "/product-details//P001"),
        ("GET", "/product-details/P001/extra"),
        ("POST", "/product-details/P001"),
        ("OPTIONS", "/product-details/P001"),
    ],
)
def test_a_request_no_route_matches_gets_not_found_without_reaching_the_function(method: str, target: str) -> None:
    # Given the page and product routes, GET only
    app = Recorder()

    # When a request matches no route and method
    status, headers, body = call(page_gateway(app), method, target)

    # Then HTTP API's 404 answers it, and the function never ran
    assert (status, body) == ("404 Not Found", b'{"message":"Not Found"}')
    assert headers["Content-Type"] == "application/json"
    assert app.paths == []


def test_head_on_a_get_route_is_not_found_with_no_body() -> None:
    # Given a GET-only route
    app = Recorder()

    # When HEAD is sent
    status, _, body = call(page_gateway(app), "HEAD", "/product-details/P001")

    # Then it is not matched to the GET route
    assert (status, body, app.paths) == ("404 Not Found", b"", [])


def test_an_any_route_takes_every_method() -> None:
    app = Recorder()
    gateway = HttpApiGateway(app, [HttpApiRoute.of(["ANY"], "/things/{proxy+}", "F", None)])

    status, _, _ = call(gateway, "DELETE", "/things/a/b")

    assert (status, app.paths) == ("200 OK", ["/things/a/b"])


def test_a_preflight_from_an_allowed_origin_gets_the_configuration() -> None:
    # Given CORS on the page route
    app = Recorder()
    gateway = page_gateway(app, POLICY)

    # When a browser preflights a request with X-Correlation-Id
    status, headers, _ = call(
        gateway,
        "OPTIONS",
        "/product-details/P001",
        origin=ORIGIN,
        access_control_request_method="GET",
        access_control_request_headers="x-correlation-id",
    )

    # Then the gateway answers it itself from the configuration
    assert status == "204 No Content"
    assert headers == {
        "Access-Control-Allow-Origin": ORIGIN,
        "Access-Control-Allow-Methods": "GET",
        "Access-Control-Allow-Headers": "x-correlation-id",
        "Access-Control-Max-Age": "600",
    }
    assert app.paths == []


def test_a_preflight_from_another_origin_gets_no_cors_headers() -> None:
    app = Recorder()
    status, headers, _ = call(
        page_gateway(app, POLICY),
        "OPTIONS",
        "/product-details/P001",
        origin="https://evil.example",
        access_control_request_method="GET",
    )
    assert status == "204 No Content"
    assert headers == {}


def test_a_preflight_on_a_route_without_cors_is_not_found() -> None:
    app = Recorder()
    status, _, _ = call(
        page_gateway(app, POLICY), "OPTIONS", "/products/P001", origin=ORIGIN, access_control_request_method="GET"
    )
    assert status == "404 Not Found"


def test_a_cors_response_carries_the_configured_headers_and_not_the_functions() -> None:
    # Given a function that sets its own CORS headers
    app = Recorder([("Access-Control-Allow-Origin", "*"), ("Server-Timing", "total;dur=1")])

    # When an allowed origin calls the page
    _, headers, _ = call(page_gateway(app, POLICY), "GET", "/product-details/P001", origin=ORIGIN)

    # Then the configured CORS headers replace the function's, and its other headers pass
    assert headers == {
        "Server-Timing": "total;dur=1",
        "Access-Control-Allow-Origin": ORIGIN,
        "Access-Control-Expose-Headers": "server-timing",
    }


def test_the_templates_cors_configuration_applies_to_the_bff_route_with_the_given_origins() -> None:
    # Given template.yaml and an allowed origin given to `make dev`
    # When the CORS policies are read
    policies = cors_by_route(project_template(), [ORIGIN, " "])

    # Then only the BFF's routes have one, with the template's methods, headers and max age
    assert set(policies) == {
        ("BffFunction", "/product-details/{productId}"),
        ("BffFunction", "/product-details"),
        ("BffFunction", "/openapi.json"),
        ("CartFunction", "/cart"),
        ("CartFunction", "/cart/items"),
    }
    policy = policies["BffFunction", "/product-details/{productId}"]
    assert policy.allow_origins == {ORIGIN}
    assert policy.allow_methods == ("GET", "POST")
    assert "x-correlation-id" in policy.allow_headers
    assert "server-timing" in policy.expose_headers
    assert policy.max_age_s == 600


def test_no_origins_means_no_cors_as_with_the_templates_default() -> None:
    assert cors_by_route(project_template(), [""]) == {}


def test_the_project_template_is_where_the_tests_expect_it() -> None:
    assert Path(REPO_ROOT / "template.yaml").is_file()
