"""Which request headers travel to a downstream call.

Sent: the correlation id, the W3C trace headers of the call's own span, and a well-formed Accept-Language.
Never sent: the client's Authorization (and cookies). The BFF calls its services as itself (SigV4 with the
execution role when DOWNSTREAM_AUTH=iam), so a client token forwarded downstream would only widen where it can
leak and let a client steer what an internal service believes about the caller (a confused deputy); with
SigV4 the Authorization header is the BFF's own signature anyway. A downstream that needs the end user should
get verified claims or an exchanged token, not the raw credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bff.observability.correlation import CORRELATION_HEADER
from bff.observability.trace_context import TRACEPARENT, TRACESTATE, TraceContext, parse_traceparent

ACCEPT_LANGUAGE = "accept-language"
_WELL_FORMED_ACCEPT_LANGUAGE = re.compile(r"[A-Za-z0-9*,;=. -]{1,200}")


def downstream_headers(incoming: Mapping[str, str], *, correlation_id: str, call_trace: TraceContext) -> dict[str, str]:
    """Headers for one downstream call; `call_trace` is the call's child context (`TraceContext.child()`)."""
    headers = {CORRELATION_HEADER: correlation_id, **call_trace.headers()}
    language = incoming.get(ACCEPT_LANGUAGE, "")
    if _WELL_FORMED_ACCEPT_LANGUAGE.fullmatch(language):
        headers[ACCEPT_LANGUAGE] = language
    return headers


def for_one_call(request_headers: Mapping[str, str]) -> dict[str, str]:
    """The request's downstream headers with a span id of this call's own (the trace id and flags kept)."""
    parent = parse_traceparent(request_headers.get(TRACEPARENT))
    if parent is None:
        return dict(request_headers)
    call_trace = TraceContext(parent.trace_id, parent.span_id, parent.flags, request_headers.get(TRACESTATE))
    return {**request_headers, **call_trace.child().headers()}
