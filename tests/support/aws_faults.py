"""AWS JSON endpoints (DynamoDB, SSM) on 127.0.0.1 that fail in one way and count what reached them: an error
status of the caller's choice, a 200 whose body is not the protocol's JSON, and a listener that accepts, reads and
never answers. The closed port and the delaying proxy are in tests.support.fault_servers."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.fault_servers import LOOPBACK, aws_json_error


@dataclass
class FaultyEndpoint:
    url: str
    requests: list[str] = field(default_factory=list)
    """The X-Amz-Target of each request received (e.g. "DynamoDB_20120810.PutItem")."""
    connections: int = 0


class _AnsweringHandler(BaseHTTPRequestHandler):
    status = 500
    body = b""
    content_type = "application/x-amz-json-1.0"
    error_type = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.endpoint.requests.append(self.headers.get("x-amz-target", ""))  # type: ignore[attr-defined]
        self.send_response(self.status)
        self.send_header("content-type", self.content_type)
        if self.error_type:
            self.send_header("x-amzn-errortype", f"{self.error_type}:")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[FaultyEndpoint]:
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    endpoint = FaultyEndpoint(f"http://{LOOPBACK}:{server.server_address[1]}")
    server.endpoint = endpoint  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="aws-fault-endpoint", daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def error_endpoint(status: int, error_code: str) -> Iterator[FaultyEndpoint]:
    """Every call answers `status` with the AWS JSON error `error_code` (e.g. 400 with
    ProvisionedThroughputExceededException or ThrottlingException, 500 with InternalServerError)."""
    body = aws_json_error(error_code, "injected by the test")
    attributes = {"status": status, "body": body, "error_type": error_code}
    with _serving(type("ErrorHandler", (_AnsweringHandler,), attributes)) as endpoint:
        yield endpoint


@contextmanager
def malformed_endpoint() -> Iterator[FaultyEndpoint]:
    """Every call answers 200 with a body that is not JSON (a proxy's HTML page, a truncated answer)."""
    attributes = {"status": 200, "body": b"<html>upstream says hello", "content_type": "text/html"}
    with _serving(type("MalformedHandler", (_AnsweringHandler,), attributes)) as endpoint:
        yield endpoint


@contextmanager
def silent_endpoint() -> Iterator[FaultyEndpoint]:
    """Accepts every connection (the request waits in its buffer) and never answers; counts the connections."""
    with closing(socket.socket()) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(64)
        listener.settimeout(0.05)
        endpoint = FaultyEndpoint(f"http://{LOOPBACK}:{listener.getsockname()[1]}")
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                endpoint.connections += 1
                accepted.append(connection)

        thread = threading.Thread(target=accept, name="silent-endpoint", daemon=True)
        thread.start()
        try:
            yield endpoint
        finally:
            stop.set()
            thread.join()
            for connection in accepted:
                with contextlib.suppress(OSError):
                    connection.close()
