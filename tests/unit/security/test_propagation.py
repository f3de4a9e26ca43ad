"""What travels downstream from the client's request (the trace headers of each call: tests/unit/observability)."""

from __future__ import annotations

from bff.api.propagation import downstream_headers

CLIENT_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_only_the_correlation_id_is_forwarded_not_credentials_language_or_the_callers_trace_headers() -> None:
    # Given a client request with credentials, trace headers and a language preference
    incoming = {
        "authorization": "Bearer client-token",
        "cookie": "session=abc",
        "traceparent": CLIENT_TRACEPARENT,
        "tracestate": "vendor=1",
        "accept-language": "de-CH, de;q=0.9, en;q=0.5",
        "x-forwarded-for": "203.0.113.9",
    }
    # When the headers of the request's downstream calls are built
    headers = downstream_headers(incoming, correlation_id="req-1")
    # Then only the correlation id goes out: the services answer alike in every language, their answers are
    # cached by service and id alone, and each call's traceparent is its own span's, added per attempt
    assert headers == {"x-correlation-id": "req-1"}
