"""Loopback endpoints that misbehave on purpose: a port that refuses, one that accepts and never answers, and an
HTTP endpoint that answers every AWS JSON call with a throttling error (moto cannot be made to throttle)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = "127.0.0.1"


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port with nothing listening: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    yield port


@contextmanager
def black_hole_port() -> Iterator[int]:
    """A listening port that completes TCP handshakes (the kernel's backlog) but never reads or answers."""
    with closing(socket.socket()) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(64)
        port: int = listener.getsockname()[1]
        yield port


def aws_json_error(code: str, message: str) -> bytes:
    return json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()


class _ThrottlingHandler(BaseHTTPRequestHandler):
    error_code = "ProvisionedThroughputExceededException"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.requests.append(self.headers.get("x-amz-target", ""))  # type: ignore[attr-defined]
        body = aws_json_error(
            self.error_code, "The level of configured provisioned throughput for the table was exceeded."
        )
        self.send_response(400)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-errortype", f"{self.error_code}:")
        self.send_header("x-amzn-requestid", "throttled-by-test")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@dataclass(frozen=True)
class ThrottlingEndpoint:
    url: str
    requests: list[str] = field(default_factory=list)
    """The X-Amz-Target of each request received, e.g. "DynamoDB_20120810.GetItem"."""


@contextmanager
def throttling_endpoint(error_code: str = "ProvisionedThroughputExceededException") -> Iterator[ThrottlingEndpoint]:
    """An AWS JSON endpoint (DynamoDB's protocol) whose every answer is `error_code` with HTTP 400."""
    handler = type("Handler", (_ThrottlingHandler,), {"error_code": error_code})
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    endpoint = ThrottlingEndpoint(f"http://{LOOPBACK}:{server.server_address[1]}")
    server.requests = endpoint.requests  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="throttling-endpoint", daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
