"""Loopback endpoints that misbehave on purpose: a port that refuses, one that accepts and never answers, an
HTTP endpoint that answers every AWS JSON call with a throttling error (moto cannot be made to throttle), and a
TCP proxy that holds each answer of a real server longer than a read timeout."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
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


@dataclass
class AwsEndpoint:
    url: str
    requests: list[str] = field(default_factory=list)
    """The X-Amz-Target of each request received, e.g. "DynamoDB_20120810.GetItem"."""
    connections: int = 0
    """Connections accepted, where the endpoint counts them (tests.support.aws_faults.silent_endpoint)."""


class _AnsweringHandler(BaseHTTPRequestHandler):
    """Answers every POST with the class's status, body and content type, and records its X-Amz-Target."""

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
def answering_endpoint(
    status: int, body: bytes, *, content_type: str = "application/x-amz-json-1.0", error_type: str = ""
) -> Iterator[AwsEndpoint]:
    """An endpoint on 127.0.0.1 whose every answer is `status` with `body`, counting the requests it received."""
    attributes = {"status": status, "body": body, "content_type": content_type, "error_type": error_type}
    server = ThreadingHTTPServer((LOOPBACK, 0), type("Handler", (_AnsweringHandler,), attributes))
    endpoint = AwsEndpoint(f"http://{LOOPBACK}:{server.server_address[1]}")
    server.endpoint = endpoint  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="answering-endpoint", daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def throttling_endpoint(
    error_code: str = "ProvisionedThroughputExceededException", status: int = 400
) -> Iterator[AwsEndpoint]:
    """An AWS JSON endpoint (DynamoDB's protocol) whose every answer is `error_code` with HTTP `status` (e.g.
    InternalServerError with 500 for a 5xx)."""
    body = aws_json_error(error_code, "injected by the test")
    with answering_endpoint(status, body, error_type=error_code) as endpoint:
        yield endpoint


@dataclass
class DelayingProxy:
    """A TCP proxy in front of `upstream_port`: requests pass at once, each answer is held `delay_s` first."""

    port: int
    delay_s: float
    connections: int = 0
    answers: int = 0
    sent: list[bytes] = field(default_factory=list)
    """Every chunk passed upstream, in order (requests, for counting: `count(b"BatchGetItem")`)."""

    def count(self, marker: bytes) -> int:
        """How often `marker` occurs in what was sent upstream."""
        return b"".join(self.sent).count(marker)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: DelayingProxy
    upstream_port: int


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        proxy = self.server.proxy
        proxy.connections += 1
        try:
            upstream = socket.create_connection((LOOPBACK, self.server.upstream_port), timeout=10)
        except OSError:
            return
        with upstream:
            forward = threading.Thread(target=_pump, args=(self.request, upstream, 0.0, proxy.sent), daemon=True)
            forward.start()
            _pump(upstream, self.request, proxy.delay_s, proxy)
            forward.join(timeout=1)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            self.request.shutdown(socket.SHUT_RDWR)


def _pump(source: socket.socket, target: socket.socket, delay_s: float, counted: DelayingProxy | list[bytes]) -> None:
    """Copies until either side closes; each chunk read from `source` waits `delay_s` before it is sent, and is
    counted (an answer) or recorded (a request)."""
    try:
        while chunk := source.recv(65536):
            if delay_s:
                time.sleep(delay_s)
            if isinstance(counted, list):
                counted.append(chunk)
            else:
                counted.answers += 1
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


@contextmanager
def delaying_proxy(upstream_port: int, delay_s: float) -> Iterator[DelayingProxy]:
    """A loopback proxy to `upstream_port` (a moto server, a redis-server) that holds each answer `delay_s`: a
    store that is up but slower than its read timeout."""
    server = _ProxyServer((LOOPBACK, 0), _ProxyHandler)
    proxy = DelayingProxy(server.server_address[1], delay_s)
    server.proxy, server.upstream_port = proxy, upstream_port
    thread = threading.Thread(target=server.serve_forever, name="delaying-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class RespErrorServer:
    """A Redis-protocol server that answers every command with an error."""

    port: int
    commands: list[bytes] = field(default_factory=list)
    """The name of each command received (b"MGET", b"SET", ...)."""


class _RespErrorHandler(socketserver.BaseRequestHandler):
    server: _RespServer

    def handle(self) -> None:
        buffer = b""
        while chunk := self.request.recv(65536):
            buffer += chunk
            names, buffer = _whole_commands(buffer)
            self.server.record.commands.extend(names)
            self.request.sendall(b"-ERR injected by the test\r\n" * len(names))


class _RespServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    record: RespErrorServer


def _whole_commands(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The names of the complete RESP commands (arrays of bulk strings) at the start of `buffer`, and the rest."""
    names: list[bytes] = []
    while buffer.startswith(b"*") and b"\r\n" in buffer:
        header, _, rest = buffer.partition(b"\r\n")
        parts: list[bytes] = []
        for _ in range(int(header[1:])):
            length_line, found, rest = rest.partition(b"\r\n")
            if not found or len(rest) < int(length_line[1:]) + 2:
                return names, buffer
            parts.append(rest[: int(length_line[1:])])
            rest = rest[int(length_line[1:]) + 2 :]
        names.append(parts[0].upper() if parts else b"")
        buffer = rest
    return names, buffer


@contextmanager
def resp_error_server() -> Iterator[RespErrorServer]:
    """A loopback Redis look-alike whose every answer is `-ERR`: a store that is up but failing."""
    server = _RespServer((LOOPBACK, 0), _RespErrorHandler)
    record = RespErrorServer(server.server_address[1])
    server.record = record
    thread = threading.Thread(target=server.serve_forever, name="resp-error-server", daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
