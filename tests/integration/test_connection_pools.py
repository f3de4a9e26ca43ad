"""One connection pool per downstream service, on real sockets: a hung service holds only its own connections.

Both services sit on the same origin here, the hardest case: a per-host limit would couple them, a pool per
service does not. Counted in requests and completions, not milliseconds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from bff.config.pages import product_details_page
from bff.core.outcomes import Fetched
from bff.downstream.client import DownstreamClient
from bff.downstream.http import create_http_client
from tests.support.context import NO_CONTEXT
from tests.support.fake_downstream import reviews_body
from tests.support.settings import settings_for

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MAX_CONNECTIONS = 2
HUNG_CALLS = 10
OTHER_CALLS = 6


class OneOriginServer:
    """Hangs every /products/ request; answers /reviews/ at once, keeping the connection alive."""

    def __init__(self) -> None:
        self.product_requests = 0
        self.product_requests_seen = asyncio.Event()
        self._release = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_line := await reader.readline():
                while await reader.readline() not in (b"\r\n", b""):
                    pass
                if b" /products/" in request_line:
                    self.product_requests += 1
                    if self.product_requests >= MAX_CONNECTIONS:
                        self.product_requests_seen.set()
                    await self._release.wait()
                    return
                body = json.dumps(reviews_body("P001")).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
                )
                writer.write(body)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def release(self) -> None:
        self._release.set()


@pytest.fixture
async def one_origin() -> AsyncIterator[tuple[OneOriginServer, str]]:
    handler = OneOriginServer()
    server = await asyncio.start_server(handler.serve, "127.0.0.1", 0)
    yield handler, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    handler.release()
    server.close()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_hung_service_cannot_take_the_connections_of_another(
    one_origin: tuple[OneOriginServer, str], transport: str
) -> None:
    # Given two services on one origin, at most 2 connections each, and the product service hung
    server, base_url = one_origin
    settings = settings_for(
        {"product": base_url, "reviews": base_url, "inventory": base_url},
        http_transport=transport,
        max_connections_per_service=MAX_CONNECTIONS,
        connect_timeout_ms=2_000,
    )
    sections = {section.service: section for section in product_details_page(settings).sections}
    async with create_http_client(settings) as http:
        client = DownstreamClient(http, settings.service_urls(), max_response_bytes=64 * 1024)

        # When many product calls are in flight, holding every product connection
        hung = [
            asyncio.create_task(client.fetch_once(sections["product"], f"P{n}", 30.0, NO_CONTEXT))
            for n in range(HUNG_CALLS)
        ]
        async with asyncio.timeout(10):
            await server.product_requests_seen.wait()

        # Then calls to the reviews service still complete, every one of them
        async with asyncio.timeout(10):
            outcomes = await asyncio.gather(
                *(client.fetch_once(sections["reviews"], "P001", 5.0, NO_CONTEXT) for _ in range(OTHER_CALLS))
            )
        assert sum(isinstance(outcome, Fetched) for outcome in outcomes) == OTHER_CALLS

        # And the hung service never got more connections than its own limit
        assert server.product_requests == MAX_CONNECTIONS
        assert not any(task.done() for task in hung)
        for task in hung:
            task.cancel()
        await asyncio.gather(*hung, return_exceptions=True)
