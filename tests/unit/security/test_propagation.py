"""What travels downstream from the client's request (the trace headers of each call: tests/unit/observability)."""

from __future__ import annotations

import httpx
import pytest

from bff.api.propagation import downstream_headers
from tests.support.fake_downstream import FakeDownstream

CLIENT_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
FROM_THE_CLIENT = {
    "authorization": "Bearer client-token",
    "cookie": "session=abc",
    "traceparent": CLIENT_TRACEPARENT,
    "tracestate": "vendor=1",
    "accept-language": "de-CH, de;q=0.9, en;q=0.5",
    "x-forwarded-for": "203.0.113.9",
    "x-correlation-id": "req-1",
}


@pytest.mark.anyio
async def test_only_the_correlation_id_travels_not_credentials_language_or_the_callers_trace_headers(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    # Given a client request with credentials, trace headers and a language preference
    response = await client.get("/product-details/P001", headers=FROM_THE_CLIENT)
    assert response.status_code == 200
    # Then the services got the correlation id and nothing else of the client's: they answer alike in every
    # language, their answers are cached by service and id alone, and each call's traceparent (when tracing is
    # on) is its own span's, added per attempt
    assert len(fake.requests) == 3
    for request in fake.requests:
        assert request.headers["x-correlation-id"] == "req-1"
        sent = {name.lower() for name in request.headers}
        assert not sent & (FROM_THE_CLIENT.keys() - {"x-correlation-id"})


def test_the_downstream_headers_are_the_correlation_id() -> None:
    assert downstream_headers(correlation_id="req-1") == {"x-correlation-id": "req-1"}
