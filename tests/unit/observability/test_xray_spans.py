"""Concurrent downstream spans under the real X-Ray SDK (from aws-lambda-powertools[tracer]) in its Lambda context."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aws_xray_sdk.core import AWSXRayRecorder  # type: ignore[import-untyped, unused-ignore]
from aws_xray_sdk.core.lambda_launcher import LambdaContext  # type: ignore[import-untyped, unused-ignore]

from bff.observability.tracing import Tracing

TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[dict[str, Any]]]:
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE_HEADER)
    sent: list[dict[str, Any]] = []
    xray = AWSXRayRecorder()
    xray.configure(context=LambdaContext(), streaming_threshold=0, sampling=False)
    monkeypatch.setattr(xray._emitter, "send_entity", lambda entity: sent.append(json.loads(entity.serialize())))
    return xray, sent


async def call(tracing: Tracing, service: str, delay_s: float) -> None:
    async with tracing.downstream_span(service) as span:
        await asyncio.sleep(delay_s)
        span.put_annotation("outcome", "fetched")


@pytest.mark.anyio
async def test_concurrent_spans_are_siblings_that_each_time_their_own_call(
    recorder: tuple[Any, list[dict[str, Any]]],
) -> None:
    xray, sent = recorder
    tracing = Tracing(xray)
    # Given an open handler subsegment
    with xray.in_subsegment("## lambda_handler") as handler:
        # When a fast and a slow call run concurrently
        await asyncio.gather(call(tracing, "product", 0.05), call(tracing, "reviews", 0.1))
    # Then each call is its own subsegment under the handler, with its own duration
    spans = {entity["name"]: entity for entity in sent if entity["name"] in {"## product", "## reviews"}}
    assert set(spans) == {"## product", "## reviews"}
    for span in spans.values():
        assert span["parent_id"] == handler.id
        assert span["annotations"]["outcome"] == "fetched"
        assert span["namespace"] == "remote"
    # Each span lasts at least its own call (a sleep never ends early; 5 ms for the wall clock's resolution), and the
    # fast one ends first: no upper bounds, which a busy machine would break.
    product, reviews = spans["## product"], spans["## reviews"]
    assert product["end_time"] - product["start_time"] >= 0.05 - 0.005
    assert reviews["end_time"] - reviews["start_time"] >= 0.1 - 0.005
    assert product["end_time"] < reviews["end_time"]
