"""Which request headers travel to a downstream call.

Sent: the correlation id and the W3C trace headers of the call's own span.
Never sent: the caller's Accept-Language. The services answer alike in every language, and the fragment cache
keys their answers by service and id alone (bff.resilience.caching): a header that could change an answer would
have to be in the key, where a caller could vary it to bypass and fill the cache. What depends on the language (a
price as a locale writes it) is rendered by the BFF after the cache, from the negotiated locale.
Never sent either: the client's Authorization (and cookies). The BFF calls its services as itself (SigV4 with the
execution role when DOWNSTREAM_AUTH=iam), so a client token forwarded downstream would only widen where it can
leak and let a client steer what an internal service believes about the caller (a confused deputy); with
SigV4 the Authorization header is the BFF's own signature anyway. A downstream that needs the end user should
get verified claims or an exchanged token, not the raw credential.
"""

from __future__ import annotations

from collections.abc import Mapping

from bff.observability.correlation import CORRELATION_HEADER
from bff.observability.trace_context import TRACEPARENT, TRACESTATE, TraceContext, parse_traceparent


def downstream_headers(incoming: Mapping[str, str], *, correlation_id: str, call_trace: TraceContext) -> dict[str, str]:
    """Headers for one downstream call; `call_trace` is the call's child context (`TraceContext.child()`)."""
    del incoming  # nothing of the caller's own travels: see the module's docstring
    return {CORRELATION_HEADER: correlation_id, **call_trace.headers()}


def for_one_call(request_headers: Mapping[str, str]) -> dict[str, str]:
    """The request's downstream headers with a span id of this call's own (the trace id and flags kept)."""
    parent = parse_traceparent(request_headers.get(TRACEPARENT))
    if parent is None:
        return dict(request_headers)
    call_trace = TraceContext(parent.trace_id, parent.span_id, parent.flags, request_headers.get(TRACESTATE))
    return {**request_headers, **call_trace.child().headers()}
