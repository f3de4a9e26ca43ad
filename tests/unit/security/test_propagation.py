"""What travels downstream from the client's request."""

from __future__ import annotations

from bff.downstream.propagation import downstream_headers, for_one_call
from bff.observability.trace_context import incoming_trace_context

CLIENT_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_correlation_and_trace_are_forwarded_but_credentials_and_language_are_not() -> None:
    # Given a client request with credentials, trace headers and a language preference
    incoming = {
        "authorization": "Bearer client-token",
        "cookie": "session=abc",
        "traceparent": CLIENT_TRACEPARENT,
        "tracestate": "vendor=1",
        "accept-language": "de-CH, de;q=0.9, en;q=0.5",
        "x-forwarded-for": "203.0.113.9",
    }
    call_trace = incoming_trace_context(incoming).child()
    # When the headers of one downstream call are built
    headers = downstream_headers(incoming, correlation_id="req-1", call_trace=call_trace)
    # Then only the correlation id and the call's trace context go out: the services answer alike in every
    # language, and their answers are cached by service and id alone
    assert headers == {
        "x-correlation-id": "req-1",
        "traceparent": f"00-4bf92f3577b34da6a3ce929d0e0e4736-{call_trace.span_id}-01",
        "tracestate": "vendor=1",
    }
    assert call_trace.span_id != "00f067aa0ba902b7"


def test_each_call_gets_its_own_span_under_the_request_trace() -> None:
    # Given the downstream headers of one request
    request_trace = incoming_trace_context({"traceparent": CLIENT_TRACEPARENT, "tracestate": "vendor=1"})
    request_headers = downstream_headers({}, correlation_id="req-1", call_trace=request_trace.child())
    # When two calls are made
    first, second = for_one_call(request_headers), for_one_call(request_headers)
    # Then both keep the trace, flags, tracestate and correlation id, each with a span id of its own
    spans = {headers["traceparent"].split("-")[2] for headers in (first, second, request_headers)}
    assert len(spans) == 3
    for headers in (first, second):
        assert headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        assert headers["traceparent"].endswith("-01")
        assert (headers["tracestate"], headers["x-correlation-id"]) == ("vendor=1", "req-1")


def test_headers_without_a_trace_pass_unchanged() -> None:
    assert for_one_call({"x-correlation-id": "req-1"}) == {"x-correlation-id": "req-1"}
