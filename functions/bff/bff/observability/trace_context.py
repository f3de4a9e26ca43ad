"""W3C Trace Context: accept the client's traceparent when valid, otherwise start a trace, and derive the
child header each downstream call carries (same trace id and flags, a span id of its own)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
SAMPLED_FLAGS = "01"
MAX_TRACESTATE_LENGTH = 512
MAX_TRACESTATE_MEMBERS = 32

# Version 00 only, lowercase hex as the spec demands; all-zero ids are invalid and are rejected below.
_TRACEPARENT = re.compile(r"00-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})")
_TRACESTATE_MEMBER = re.compile(
    r"(?:[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13}|[a-z][a-z0-9_*/-]{0,255})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = SAMPLED_FLAGS
    tracestate: str | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """The context of one downstream call: a fresh span id under the same trace."""
        return TraceContext(self.trace_id, _random_id(8), self.flags, self.tracestate)

    def headers(self) -> dict[str, str]:
        if self.tracestate is None:
            return {TRACEPARENT: self.traceparent}
        return {TRACEPARENT: self.traceparent, TRACESTATE: self.tracestate}


def new_trace_context() -> TraceContext:
    return TraceContext(trace_id=_random_id(16), span_id=_random_id(8))


# Each downstream call of a request parses the request's traceparent again (bff.downstream.propagation).
@lru_cache(maxsize=256)
def parse_traceparent(value: str | None) -> TraceContext | None:
    match = _TRACEPARENT.fullmatch(value or "")
    if match is None or _all_zero(match["trace_id"]) or _all_zero(match["span_id"]):
        return None
    return TraceContext(match["trace_id"], match["span_id"], match["flags"])


def is_valid_tracestate(value: str) -> bool:
    if len(value) > MAX_TRACESTATE_LENGTH:
        return False
    members = [member.strip(" \t") for member in value.split(",")]
    present = [member for member in members if member]
    return 0 < len(present) <= MAX_TRACESTATE_MEMBERS and all(
        _TRACESTATE_MEMBER.fullmatch(member) for member in present
    )


def incoming_trace_context(headers: Mapping[str, str]) -> TraceContext:
    """The client's trace when its traceparent is valid (with its tracestate, if well formed), else a new one.

    A tracestate without a valid traceparent is dropped, as the spec requires."""
    parent = parse_traceparent(headers.get(TRACEPARENT))
    if parent is None:
        return new_trace_context()
    tracestate = headers.get(TRACESTATE)
    if tracestate is not None and is_valid_tracestate(tracestate):
        return replace(parent, tracestate=tracestate)
    return parent


def _random_id(size_bytes: int) -> str:
    while _all_zero(candidate := secrets.token_hex(size_bytes)):
        pass
    return candidate


def _all_zero(hex_id: str) -> bool:
    return hex_id.strip("0") == ""
