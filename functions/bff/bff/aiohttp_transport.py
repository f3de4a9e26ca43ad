"""httpx's client API over aiohttp's connection pool, which costs a fraction of httpx's own per call.

httpx-aiohttp maps every aiohttp.ClientConnectionError to httpx.ConnectTimeout, so a server that drops the
connection would look like a timeout (not retried, wrong reason). Here only real timeouts stay timeouts; other
connection failures become RemoteProtocolError, which the edge treats as a retryable transport failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
import httpx_aiohttp


@contextmanager
def _disconnects_are_not_timeouts() -> Iterator[None]:
    try:
        yield
    except httpx.ConnectTimeout as error:
        if isinstance(error.__cause__, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            raise
        raise httpx.RemoteProtocolError("connection closed by the server") from error.__cause__


class _RemappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _disconnects_are_not_timeouts():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _disconnects_are_not_timeouts():
            await self._inner.aclose()


class AiohttpTransport(httpx_aiohttp.AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _disconnects_are_not_timeouts():
            response = await super().handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _RemappedStream(response.stream)
        return response
