"""The event a function gets through the local API, for what a hostile or careless client sends: encoded and
double-encoded paths, NUL and CRLF, raw bytes that are not UTF-8 in the path, the query and the body. As API
Gateway: the path parameters decoded once, `rawPath`/`rawQueryString` as sent, a body that is not UTF-8
base64-encoded with `isBase64Encoded` true (SAM's emulation answered 502), never an emulator error."""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fuzz.raw_http import RawResponse, send_bytes
from tests.support.local_api import LocalApi, launch, stop, wait_until_ready
from tests.support.mock_processes import free_port
from tests.support.tooling import APP_PYTHON

pytestmark = pytest.mark.localapi

ECHO_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.13
      Events:
        Read:
          Type: HttpApi
          Properties:
            Path: /echo/{id}
            Method: GET
        Write:
          Type: HttpApi
          Properties:
            Path: /echo/{id}
            Method: POST
"""

ECHO_HANDLER = """\
import json

def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
"""


@pytest.fixture(scope="module")
def echo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """A local API whose one function answers with the event it was given."""
    directory = tmp_path_factory.mktemp("echo")
    (directory / "template.yaml").write_text(ECHO_TEMPLATE)
    (directory / "code").mkdir()
    (directory / "code" / "app.py").write_text(textwrap.dedent(ECHO_HANDLER))
    api = launch(free_port(), directory, {"LOCAL_WORKER_PYTHON": str(APP_PYTHON)}, template=directory / "template.yaml")
    try:
        wait_until_ready(api)
        yield api
    finally:
        stop(api)


def event_of(response: RawResponse) -> dict[str, Any]:
    assert response.status == 200, response.body[:300]
    event: dict[str, Any] = json.loads(response.body)
    return event


@pytest.mark.parametrize(
    ("target", "raw_path", "parameter"),
    [
        (b"/echo/P001", "/echo/P001", "P001"),
        (b"/echo/P%30%30%31", "/echo/P%30%30%31", "P001"),
        # Double-encoded: decoded once, the escape stays
        (b"/echo/P%2530%2530%2531", "/echo/P%2530%2530%2531", "P%30%30%31"),
        (b"/echo/%252F", "/echo/%252F", "%2F"),
        # An encoded slash stays inside the parameter
        (b"/echo/..%2Fadmin", "/echo/..%2Fadmin", "../admin"),
        (b"/echo/%2e%2e%2f%2e%2e%2fetc", "/echo/%2e%2e%2f%2e%2e%2fetc", "../../etc"),
        (b"/echo/P001%00", "/echo/P001%00", "P001\x00"),
        (b"/echo/P001%0D%0AX-Injected:%201", "/echo/P001%0D%0AX-Injected:%201", "P001\r\nX-Injected: 1"),
        (b"/echo/%E2%82%AC", "/echo/%E2%82%AC", "\u20ac"),
        # Raw bytes a client must have escaped: percent-encoded in rawPath; not UTF-8 becomes U+FFFD
        (b"/echo/\xe2\x82\xac", "/echo/%E2%82%AC", "\u20ac"),
        (b"/echo/P\xff01", "/echo/P%FF01", "P\ufffd01"),
        (b"/echo/P%FF01", "/echo/P%FF01", "P\ufffd01"),
    ],
)
def test_the_path_reaches_the_function_decoded_once(
    echo_api: LocalApi, target: bytes, raw_path: str, parameter: str
) -> None:
    # When the path is requested
    event = event_of(send_bytes(echo_api.port, target))

    # Then rawPath and requestContext.http.path are as sent (which Mangum decodes once), the parameter decoded once
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == raw_path
    assert event["pathParameters"] == {"id": parameter}


@pytest.mark.parametrize(
    ("target", "raw_query", "parameters"),
    [
        (b"/echo/x?q=%2530", "q=%2530", {"q": "%30"}),
        (b"/echo/x?q=a&q=b%2Cc", "q=a&q=b%2Cc", {"q": "a,b,c"}),
        (b"/echo/x?q=%FF", "q=%FF", {"q": "\ufffd"}),
        (b"/echo/x?q=\xff&r=%00", "q=%FF&r=%00", {"q": "\ufffd", "r": "\x00"}),
    ],
)
def test_the_query_reaches_the_function_as_sent_and_decoded_once(
    echo_api: LocalApi, target: bytes, raw_query: str, parameters: dict[str, str]
) -> None:
    event = event_of(send_bytes(echo_api.port, target))

    assert event["rawQueryString"] == raw_query
    assert event["queryStringParameters"] == parameters


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe\x00", b'{"productId": "P\xff01", "quantity": 1}', b"\xc3\x28", "caf\u00e9".encode("latin-1")],
)
def test_a_body_that_is_not_utf8_reaches_the_function_base64_encoded(echo_api: LocalApi, body: bytes) -> None:
    # When a body that is not valid UTF-8 is sent as JSON
    response = send_bytes(
        echo_api.port, b"/echo/x", method="POST", body=body, headers={"Content-Type": "application/json"}
    )

    # Then the function gets it, base64-encoded and flagged as such, byte for byte (not the emulator's 502)
    event = event_of(response)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_a_utf8_body_reaches_the_function_as_text(echo_api: LocalApi) -> None:
    body = '{"name": "caf\u00e9"}'.encode()

    event = event_of(
        send_bytes(echo_api.port, b"/echo/x", method="POST", body=body, headers={"Content-Type": "application/json"})
    )

    assert (event["isBase64Encoded"], event["body"]) == (False, body.decode())
