"""One HTTP/1.1 request whose target goes on the wire exactly as written: no client-side normalisation of
dot segments or re-encoding, so the server sees the encoded and malformed paths the tests mean to send."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Mapping
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
CORRELATION_HEADER = "x-correlation-id"
REQUEST_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def answered_by_bff(self) -> bool:
        """The BFF stamps every answer with a correlation id; the API Gateway (or its emulation) never does."""
        return CORRELATION_HEADER in self.headers


def send(port: int, target: str, *, method: str = "GET", headers: Mapping[str, str] | None = None) -> RawResponse:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request(method, target, headers=dict(headers or {}))
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return RawResponse(response.status, headers, response.read())
    finally:
        connection.close()


def send_bytes(
    port: int, target: bytes, *, method: str = "GET", body: bytes = b"", headers: Mapping[str, str] | None = None
) -> RawResponse:
    """One request written byte for byte: a target with raw non-ASCII or control bytes, any body."""
    lines = [f"{method} ".encode() + target + b" HTTP/1.1", f"Host: {LOOPBACK}:{port}".encode(), b"Connection: close"]
    lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
    if body or method not in {"GET", "HEAD"}:
        lines.append(f"Content-Length: {len(body)}".encode())
    with socket.create_connection((LOOPBACK, port), timeout=REQUEST_TIMEOUT_S) as connection:
        connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        response = http.client.HTTPResponse(connection, method=method)
        response.begin()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        return RawResponse(response.status, answer_headers, response.read())
