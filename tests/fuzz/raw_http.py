"""One HTTP/1.1 request whose target goes on the wire exactly as written: no client-side normalisation of
dot segments or re-encoding, so the server sees the encoded and malformed paths the tests mean to send."""

from __future__ import annotations

import http.client
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
