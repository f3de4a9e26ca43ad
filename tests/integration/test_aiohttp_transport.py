"""The production pool (aiohttp behind `Transport.exchange`) on real sockets: httpx's exceptions for each way a
connection fails, no cookies, no redirects, and connections that go back to the pool only when their body was read
to the end."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import httpx
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bff.downstream.reply import Reply
from bff.downstream.transport import AiohttpTransport, JoinedHeaders, as_httpx_error
from bff.errors import DownstreamBadResponseError

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

type Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
type Serve = Callable[[Answer], Awaitable[tuple[ScriptedServer, int]]]

LIMITS = httpx.Limits(max_connections=10, keepalive_expiry=30.0)
REQUEST_INFO = aiohttp.RequestInfo(
    URL("http://127.0.0.1/"), "GET", CIMultiDictProxy(CIMultiDict()), URL("http://127.0.0.1/")
)


@dataclass
class ScriptedServer:
    """A bare HTTP/1.1 server on 127.0.0.1: counts connections, records request heads, answers with `answer`."""

    answer: Answer
    connections: int = 0
    request_heads: list[list[bytes]] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await read_head(reader):
                self.request_heads.append(head)
                await self.answer(reader, writer)
                if writer.is_closing():
                    return
        except ConnectionError:
            pass
        finally:
            writer.close()


async def read_head(reader: asyncio.StreamReader) -> list[bytes]:
    lines: list[bytes] = []
    while (line := await reader.readline()) not in (b"\r\n", b""):
        lines.append(line.rstrip(b"\r\n"))
    return lines


def first_then_ok(first: Answer) -> Answer:
    """`first` for the first connection, `ok()` for every later one."""
    answers = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answers
        answers += 1
        await (first if answers == 1 else ok())(reader, writer)

    return answer


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> Answer:
    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body))
        await writer.drain()

    return answer


async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def break_off_body(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
    await writer.drain()
    writer.close()


async def never_answer(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def redirect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n")
    await writer.drain()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> tuple[ScriptedServer, int]:
        scripted = ScriptedServer(answer)
        server = await asyncio.start_server(scripted.serve, "127.0.0.1", 0)
        servers.append(server)
        return scripted, server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport(LIMITS)
    yield transport
    await transport.aclose()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


type Fetch = Callable[[str], Awaitable[Reply]]


@pytest.fixture
def fetch(transport: AiohttpTransport) -> Fetch:
    """A GET through the pool, as the `Reply` the client reads."""

    async def get(url: str) -> Reply:
        return await exchange(transport, url)

    return get


async def test_a_full_answer_arrives_with_status_headers_and_body(serve: Serve, fetch: Fetch) -> None:
    # Given a server answering 200 with a header and a JSON body
    _, port = await serve(ok(extra=b"x-served-by: scripted\r\n"))
    # When the transport fetches it
    reply = await fetch(f"http://127.0.0.1:{port}/products/P001")
    # Then status, headers (looked up in any case) and body come back
    assert (reply.status_code, reply.headers["X-Served-By"], reply.body) == (200, "scripted", b'{"ok":true}')


async def test_a_refused_connection_is_a_connect_error(fetch: Fetch) -> None:
    with pytest.raises(httpx.ConnectError):
        await fetch(f"http://127.0.0.1:{closed_port()}/products/P001")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(hang_up, httpx.RemoteProtocolError), (break_off_body, httpx.ReadError)],
    ids=["hang-up", "body-breaks-off"],
)
async def test_a_broken_exchange_raises_its_httpx_error_once(
    serve: Serve, fetch: Fetch, answer: Answer, expected: type[httpx.TransportError]
) -> None:
    # httpx-aiohttp reported a hang-up as ConnectTimeout, which the BFF neither retries nor names correctly
    server, port = await serve(answer)
    with pytest.raises(expected):
        await fetch(f"http://127.0.0.1:{port}/products/P001")
    # and aiohttp did not quietly send it again: retries are the resilient caller's, within its budget
    assert server.connections == 1


async def test_a_redirect_is_returned_not_followed(serve: Serve, fetch: Fetch) -> None:
    server, port = await serve(redirect)
    reply = await fetch(f"http://127.0.0.1:{port}/products/P001")
    assert (reply.status_code, reply.headers["location"]) == (302, "http://169.254.169.254/")
    assert len(server.request_heads) == 1


async def test_a_downstream_cookie_is_never_sent_back(serve: Serve, fetch: Fetch) -> None:
    # Given a service reached by host name (aiohttp's jar ignores cookies from IP addresses) that sets a cookie
    server, port = await serve(ok(extra=b"set-cookie: session=user-a; Path=/\r\n"))
    # When two requests go to it
    for _ in range(2):
        await fetch(f"http://localhost:{port}/products/P001")
    # Then neither carried a cookie
    sent_headers = [line.split(b":")[0].lower() for head in server.request_heads for line in head[1:]]
    assert len(server.request_heads) == 2
    assert b"cookie" not in sent_headers


async def test_the_request_goes_out_with_our_headers_and_no_compression(serve: Serve, fetch: Fetch) -> None:
    server, port = await serve(ok())
    await fetch(f"http://127.0.0.1:{port}/products/a%2Fb")
    request_line, *header_lines = server.request_heads[0]
    headers = dict(line.lower().split(b": ", 1) for line in header_lines)
    assert request_line == b"GET /products/a%2Fb HTTP/1.1"
    assert headers[b"accept-encoding"] == b"identity"
    assert headers[b"host"] == f"127.0.0.1:{port}".encode()


async def test_a_read_body_returns_its_connection_to_the_pool(serve: Serve, fetch: Fetch) -> None:
    server, port = await serve(ok())
    for _ in range(5):
        await fetch(f"http://127.0.0.1:{port}/products/P001")
    assert (len(server.request_heads), server.connections) == (5, 1)


async def test_a_silent_server_is_bounded_by_the_callers_deadline(serve: Serve, transport: AiohttpTransport) -> None:
    # The pool arms no read timer of its own: the client bounds each exchange with one asyncio timeout
    server, port = await serve(never_answer)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await exchange(transport, f"http://127.0.0.1:{port}/products/P001")
    assert len(server.request_heads) == 1


async def test_a_body_over_the_cap_closes_its_connection(serve: Serve, transport: AiohttpTransport) -> None:
    # Given a 200 that declares a body over the cap, still arriving when the pool refuses it
    first_connection_closed = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await writer.drain()
        await reader.read()  # returns when the client closes its end
        first_connection_closed.set()

    server, port = await serve(first_then_ok(slow))
    url = f"http://127.0.0.1:{port}/products/P001"
    # When the pool refuses it without reading it
    with pytest.raises(DownstreamBadResponseError, match="declared body over the size cap"):
        await exchange(transport, url, max_body_bytes=50)
    # Then its connection is closed, not pooled, and the next request opens a fresh one
    await asyncio.wait_for(first_connection_closed.wait(), timeout=2.0)
    reply = await exchange(transport, url)
    assert reply.body == b'{"ok":true}'
    assert server.connections == 2


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ClientPayloadError("truncated"), httpx.ReadError),
        (aiohttp.InvalidURL("ftp://x"), httpx.UnsupportedProtocol),
        (aiohttp.NonHttpUrlClientError("ftp://x"), httpx.UnsupportedProtocol),
        (ValueError("port out of range"), httpx.UnsupportedProtocol),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "reset"), httpx.RemoteProtocolError),
        (TimeoutError(), httpx.ReadTimeout),
        (ConnectionResetError(104, "reset by peer"), httpx.RemoteProtocolError),
        (
            aiohttp.ClientResponseError(REQUEST_INFO, (), status=400, message="bad status line"),
            httpx.RemoteProtocolError,
        ),
    ],
)
def test_each_aiohttp_error_has_one_httpx_counterpart(
    error: aiohttp.ClientError | OSError | ValueError, expected: type[httpx.TransportError]
) -> None:
    mapped = as_httpx_error(error)
    assert type(mapped) is expected
    assert str(mapped)


async def exchange(
    transport: AiohttpTransport, url: str, headers: dict[str, str] | None = None, max_body_bytes: int = 1024
) -> Reply:
    return await transport.exchange(
        "GET",
        url,
        {"accept-encoding": "identity", **(headers or {})},
        None,
        connect_timeout_s=1.0,
        service="product",
        max_body_bytes=max_body_bytes,
    )


def chunked(*chunks: bytes) -> Answer:
    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for chunk in chunks:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    return answer


async def test_an_error_answer_is_not_read_and_its_connection_is_closed(
    serve: Serve, transport: AiohttpTransport
) -> None:
    # Given a 503 whose (long) body is still arriving, then a good answer
    async def answer_503(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-length: 100\r\n\r\n0123")
        await writer.drain()

    server, port = await serve(first_then_ok(answer_503))
    url = f"http://127.0.0.1:{port}/products/P001"
    # When the transport is asked twice
    unavailable = await exchange(transport, url)
    good = await exchange(transport, url)
    # Then the 503 came back with its headers and no body, and its connection was not reused
    assert (unavailable.status_code, unavailable.headers["retry-after"], unavailable.body) == (503, "2", b"")
    assert (good.status_code, server.connections) == (200, 2)


@pytest.mark.parametrize(
    "answer",
    [ok(b"x" * 100), chunked(b"x" * 40, b"x" * 40)],
    ids=["declared-length", "chunked"],
)
async def test_a_body_over_the_cap_is_refused(serve: Serve, transport: AiohttpTransport, answer: Answer) -> None:
    _, port = await serve(answer)
    with pytest.raises(DownstreamBadResponseError):
        await exchange(transport, f"http://127.0.0.1:{port}/products/P001", max_body_bytes=64)


async def test_a_chunked_body_within_the_cap_is_read_whole(serve: Serve, transport: AiohttpTransport) -> None:
    _, port = await serve(chunked(b'{"ok":', b"true}"))
    reply = await exchange(transport, f"http://127.0.0.1:{port}/products/P001", max_body_bytes=64)
    assert reply.body == b'{"ok":true}'


def test_joined_headers_read_like_httpxs() -> None:
    headers = JoinedHeaders(
        CIMultiDictProxy(CIMultiDict([("Cache-Control", "max-age=60"), ("cache-control", "private"), ("ETag", '"x"')]))
    )
    assert (headers["CACHE-CONTROL"], headers.get("etag"), headers.get("retry-after", "none")) == (
        "max-age=60, private",
        '"x"',
        "none",
    )
    assert (list(headers), len(headers), "Etag" in headers) == (["cache-control", "etag"], 2, True)
    with pytest.raises(KeyError):
        headers["retry-after"]


async def test_a_call_that_starts_while_the_pool_closes_gets_a_new_one(
    serve: Serve, transport: AiohttpTransport
) -> None:
    # Given a transport with an open session (a SnapStart restore resets the pools while the loop may run)
    server, port = await serve(ok())
    url = f"http://127.0.0.1:{port}/products/P001"
    await exchange(transport, url)
    # When a call starts while the pool is being closed
    closing = asyncio.create_task(transport.aclose())
    await asyncio.sleep(0)
    reply = await exchange(transport, url)
    await closing
    # Then it is answered on a new connection, not refused by the closing session
    assert reply.status_code == 200
    assert server.connections == 2
