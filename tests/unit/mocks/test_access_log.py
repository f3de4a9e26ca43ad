from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import product_service
import reviews_service
from mockkit.delivery import SimulatedConnectionReset
from tests.unit.mocks.asgi_support import AsgiExchange, client_for, mock_app

pytestmark = pytest.mark.anyio

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def logged_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


async def test_each_request_logs_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a caller that sends a correlation id and a trace context
    headers = {"X-Correlation-Id": "corr-1", "traceparent": TRACEPARENT}
    async with client_for(mock_app(reviews_service.SPEC, MOCK_LATENCY_MS="20")) as client:
        # When it makes one request
        await client.get("/reviews/P001", headers=headers)

    # Then exactly one line describes it
    [line] = logged_lines(capsys)
    assert line == {
        "service": "reviews",
        "event": "response",
        "method": "GET",
        "path": "/reviews/P001",
        "status": 200,
        "correlation_id": "corr-1",
        "traceparent": TRACEPARENT,
        "duration_ms": line["duration_ms"],
    }
    assert line["duration_ms"] >= 20


async def test_missing_headers_are_logged_as_null(capsys: pytest.CaptureFixture[str]) -> None:
    async with client_for(mock_app(product_service.SPEC)) as client:
        await client.get("/products/P404")

    [line] = logged_lines(capsys)
    assert line["status"] == 404
    assert line["correlation_id"] is None
    assert line["traceparent"] is None


async def test_a_client_leaving_early_is_logged_as_a_disconnect(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a slow mock (1 s) and a caller that gives up after 50 ms, as a losing hedged request would
    exchange = AsgiExchange("/products/P001", {"X-Correlation-Id": "hedge-2"})
    running = asyncio.create_task(exchange.run(mock_app(product_service.SPEC, MOCK_LATENCY_MS="1000")))
    await asyncio.sleep(0.05)

    # When the caller disconnects
    exchange.leave()
    await asyncio.wait_for(running, timeout=1)

    # Then the mock stopped without answering and logged the disconnect
    [line] = logged_lines(capsys)
    assert exchange.sent == []
    assert line["event"] == "disconnect"
    assert line["status"] is None
    assert line["correlation_id"] == "hedge-2"
    assert line["duration_ms"] < 1000


async def test_a_reset_is_logged_with_the_status_it_had_sent(capsys: pytest.CaptureFixture[str]) -> None:
    exchange = AsgiExchange("/products/P001")

    with pytest.raises(SimulatedConnectionReset):
        await exchange.run(mock_app(product_service.SPEC, MOCK_FAULT="reset"))

    [line] = logged_lines(capsys)
    assert line["event"] == "reset"
    assert line["status"] == 200
