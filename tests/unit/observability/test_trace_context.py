"""W3C traceparent/tracestate: what is accepted from the client, and what each downstream call carries."""

from __future__ import annotations

import re

import pytest

from bff.observability.trace_context import (
    MAX_TRACESTATE_LENGTH,
    TraceContext,
    incoming_trace_context,
    is_valid_tracestate,
    new_trace_context,
    parse_traceparent,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
WELL_FORMED_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def test_valid_traceparent_is_parsed_into_its_parts() -> None:
    assert parse_traceparent(VALID) == TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        VALID + "\r\nx-injected: 1",
        VALID + "-extra",
        " " + VALID,
    ],
)
def test_invalid_traceparent_is_rejected(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_missing_or_invalid_traceparent_starts_a_new_sampled_trace() -> None:
    # Given a request whose traceparent is invalid, with a tracestate
    headers = {"traceparent": "00-zz", "tracestate": "vendor=abc"}
    # When the incoming context is read
    first, second = incoming_trace_context(headers), incoming_trace_context({})
    # Then a fresh, well-formed trace starts and the orphaned tracestate is dropped
    assert WELL_FORMED_TRACEPARENT.fullmatch(first.traceparent)
    assert first.flags == "01"
    assert first.tracestate is None
    assert first.trace_id != second.trace_id
    assert first.span_id != second.span_id


def test_valid_traceparent_keeps_its_well_formed_tracestate() -> None:
    context = incoming_trace_context({"traceparent": VALID, "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWk"})
    assert context.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert context.tracestate == "rojo=00f067aa0ba902b7,congo=t61rcWk"


@pytest.mark.parametrize(
    "tracestate",
    [
        "",
        "no-equals-sign",
        "UPPER=1",
        "a=1\r\nx-injected: 1",
        "a=1\nb=2",
        "a=caf\u00e9",
        "a=" + "x" * MAX_TRACESTATE_LENGTH,
        ",".join(f"k{i}=v" for i in range(33)),
    ],
)
def test_malformed_or_oversized_tracestate_is_dropped(tracestate: str) -> None:
    context = incoming_trace_context({"traceparent": VALID, "tracestate": tracestate})
    assert context.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert context.tracestate is None


def test_multi_tenant_tracestate_keys_are_accepted() -> None:
    assert is_valid_tracestate("tenant1@vendor=value, simple=v2")


def test_child_keeps_trace_and_flags_with_a_new_span() -> None:
    # Given an unsampled incoming trace with a tracestate
    parent = incoming_trace_context(
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "tracestate": "a=1"}
    )
    # When a downstream call derives its context
    child = parent.child()
    # Then only the span id changes, and the headers carry it
    assert (child.trace_id, child.flags, child.tracestate) == (parent.trace_id, "00", "a=1")
    assert child.span_id != parent.span_id
    assert child.headers() == {
        "traceparent": f"00-4bf92f3577b34da6a3ce929d0e0e4736-{child.span_id}-00",
        "tracestate": "a=1",
    }


def test_generated_ids_are_never_all_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a random source whose first draw is all zeros
    draws = iter(["0" * 32, "1" * 32, "2" * 16])
    monkeypatch.setattr("bff.observability.trace_context.secrets.token_hex", lambda _size: next(draws))
    # When a trace is generated
    context = new_trace_context()
    # Then the zero draw is discarded
    assert (context.trace_id, context.span_id) == ("1" * 32, "2" * 16)
