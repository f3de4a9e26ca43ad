"""The two pools behind the one `Transport` answer alike on real sockets: aiohttp's (production) and httpx's own
through `HttpxTransport` (`HTTP_TRANSPORT=httpx`, and the adapter tests use for httpx.MockTransport). Repeated
headers are joined, a compressed body is decoded within the size cap, and a coding we cannot read is a bad
response."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from bff.downstream.egress import AllowList
from bff.downstream.http import HttpxTransport, OutboundHttp, PerServiceTransport, Transport
from bff.downstream.reply import Reply
from bff.downstream.transport import AiohttpTransport
from bff.errors import DownstreamBadResponseError

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

LIMITS = httpx.Limits(max_connections=4, keepalive_expiry=30.0)
CAP = 1024
type Get = Callable[[bytes], Awaitable[Reply]]
"""Serves one raw HTTP answer on 127.0.0.1 and GETs it through the client."""


def answer(body: bytes, *headers: bytes) -> bytes:
    head = b"".join(header + b"\r\n" for header in headers)
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), head, body)


@pytest.fixture(params=["aiohttp", "httpx"])
async def get(request: pytest.FixtureRequest) -> AsyncIterator[Get]:
    pool: Transport = (
        AiohttpTransport(LIMITS)
        if request.param == "aiohttp"
        else HttpxTransport(httpx.AsyncHTTPTransport(limits=LIMITS))
    )
    servers: list[asyncio.Server] = []
    client = OutboundHttp(
        PerServiceTransport({"product": pool}, pool), None, connect_timeout_s=1.0, allow_list=AllowList(lambda: ports)
    )
    ports: set[str] = set()

    async def fetch(raw: bytes) -> Reply:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            writer.write(raw)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        origin = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        ports.add(origin)
        return await client.get(f"{origin}/products/P001", {}, 5.0, service="product", max_body_bytes=CAP)

    yield fetch
    await client.aclose()
    for server in servers:
        server.close()


async def test_a_repeated_header_is_read_whole(get: Get) -> None:
    reply = await get(answer(b"{}", b"cache-control: max-age=60", b"Cache-Control: private"))
    assert reply.headers.get("cache-control") == "max-age=60, private"


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw"],
)
async def test_a_compressed_body_is_decoded(get: Get, coding: str, compress: Callable[[bytes], bytes]) -> None:
    reply = await get(answer(compress(b'{"id":"P001"}'), f"content-encoding: {coding}".encode()))
    assert reply.body == b'{"id":"P001"}'


async def test_a_compressed_body_may_not_expand_past_the_cap(get: Get) -> None:
    bomb = gzip.compress(b" " * (CAP * 100))
    assert len(bomb) < CAP
    with pytest.raises(DownstreamBadResponseError, match="decoded body over the size cap"):
        await get(answer(bomb, b"content-encoding: gzip"))


@pytest.mark.parametrize("coding", ["br", "compress", "gzip, br"])
async def test_a_coding_we_cannot_read_is_a_bad_response(get: Get, coding: str) -> None:
    with pytest.raises(DownstreamBadResponseError):
        await get(answer(b"\x8b\x00\x80{}\x03", f"content-encoding: {coding}".encode()))


async def test_a_body_that_does_not_decode_is_a_bad_response(get: Get) -> None:
    with pytest.raises(DownstreamBadResponseError):
        await get(answer(b"not gzip at all", b"content-encoding: gzip"))
