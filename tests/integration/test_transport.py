"""The outbound transport on real sockets: connection reuse across warm invocations, and exact URLs on the wire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from bff.config.pages import product_details_page
from bff.core.outcomes import Failed, FailureReason
from bff.downstream.client import DownstreamClient
from bff.downstream.http import create_http_client
from tests.conftest import LambdaHandler, load_event
from tests.support.context import NO_CONTEXT
from tests.support.lambda_context import FakeLambdaContext
from tests.support.mock_processes import MockProcess
from tests.support.settings import settings_for

pytestmark = pytest.mark.integration


def connections_seen(mocks: dict[str, MockProcess]) -> dict[str, int]:
    return {name: httpx.get(f"{mock.base_url}/__mock/stats").json()["connections"] for name, mock in mocks.items()}


def test_warm_invocations_open_no_new_connections(
    bff_handler: LambdaHandler, reference_mocks: dict[str, MockProcess]
) -> None:
    # Given a warm execution environment that has served one request
    event = load_event("bff-v2-P001.json")
    assert bff_handler(event, FakeLambdaContext())["statusCode"] == 200
    before = connections_seen(reference_mocks)
    # When it serves twenty more
    statuses = [bff_handler(event, FakeLambdaContext())["statusCode"] for _ in range(20)]
    # Then every downstream call rode on the connections already open
    assert statuses == [200] * 20
    assert connections_seen(reference_mocks) == before


@pytest.fixture
async def request_line_server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A bare TCP server on 127.0.0.1 that records each request line exactly as it arrived and answers 404."""
    request_lines: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_lines.append((await reader.readline()).rstrip(b"\r\n"))
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", request_lines


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize(
    ("entity_id", "expected_path"),
    [("P001", b"/products/P001"), ("a/b c", b"/products/a%2Fb%20c"), ("v1.2", b"/products/v1.2")],
)
async def test_id_reaches_the_wire_percent_encoded_exactly_once(
    request_line_server: tuple[str, list[bytes]], transport: str, entity_id: str, expected_path: bytes
) -> None:
    base_url, request_lines = request_line_server
    settings = settings_for({"product": base_url, "reviews": base_url, "inventory": base_url}, http_transport=transport)
    product = product_details_page(settings).sections[0]
    async with create_http_client(settings) as http:
        client = DownstreamClient(http, settings.service_urls(), max_response_bytes=1024)
        await client.fetch_once(product, entity_id, 1.0, NO_CONTEXT)
    assert request_lines == [b"GET " + expected_path + b" HTTP/1.1"]


@pytest.mark.anyio
async def test_the_production_pool_is_reached_without_httpx_requests(
    request_line_server: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the default (aiohttp) pools, and no httpx Request or Response that could be built on the way
    base_url, request_lines = request_line_server

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an httpx Request or Response was built")

    monkeypatch.setattr(httpx.Request, "__init__", refuse)
    monkeypatch.setattr(httpx.Response, "__init__", refuse)
    settings = settings_for({"product": base_url, "reviews": base_url, "inventory": base_url})
    product = product_details_page(settings).sections[0]
    # When a call goes out
    async with create_http_client(settings) as http:
        client = DownstreamClient(http, settings.service_urls(), max_response_bytes=1024)
        outcome = await client.fetch_once(product, "P001", 1.0, NO_CONTEXT)
    # Then it reached the server (and its 404 came back as such) as plain values
    assert request_lines == [b"GET /products/P001 HTTP/1.1"]
    assert isinstance(outcome, Failed)
    assert outcome.reason is FailureReason.NOT_FOUND
