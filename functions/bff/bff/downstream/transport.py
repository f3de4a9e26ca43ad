"""httpx's transport interface over aiohttp's connection pool, which costs a fraction of httpx's own per call.

Ours rather than httpx-aiohttp's, which we measured first: it maps every dropped connection to ConnectTimeout
(so a reset looked like a timeout: wrong reason, never retried), keeps aiohttp's cookie jar (a downstream's
Set-Cookie would ride along on later calls to that host), and rebuilds URL and headers through slower paths.

Exceptions raised, as httpx's, so that callers and tests see one exception tree whatever the transport:

    aiohttp.ConnectionTimeoutError   -> httpx.ConnectTimeout
    aiohttp.ServerTimeoutError       -> httpx.ReadTimeout          (SocketTimeoutError, any other read timeout)
    aiohttp.ClientConnectorError     -> httpx.ConnectError         (refused, DNS, TLS: nothing was sent)
    aiohttp.ClientPayloadError       -> httpx.ReadError            (the body broke off)
    aiohttp.InvalidURL               -> httpx.UnsupportedProtocol  (also NonHttpUrlClientError, an invalid port)
    any other aiohttp.ClientError    -> httpx.RemoteProtocolError  (disconnected, reset, malformed response)
    TimeoutError escaping aiohttp    -> httpx.ReadTimeout
    any other OSError escaping it    -> httpx.RemoteProtocolError
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import aiohttp
import httpx
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bff.downstream.reply import Reply, declared_within, decoded, read_capped


def as_httpx_error(error: aiohttp.ClientError | OSError | ValueError) -> httpx.TransportError:
    """The httpx exception for an aiohttp one (order matters: the timeouts are also connection errors)."""
    message = str(error) or type(error).__name__
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(error, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(error, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(error, aiohttp.ClientPayloadError):
        return httpx.ReadError(message)
    if isinstance(error, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError | ValueError):
        return httpx.UnsupportedProtocol(message)
    return httpx.RemoteProtocolError(message)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session, opened on first use inside the running loop: no redirects, cookies or proxies, and
    no retries of its own. aiohttp has no separate cap on idle connections: `max_keepalive_connections` is not
    used, `max_connections` caps all of them."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        connect_s = timeout.get("connect")
        try:
            url = URL(str(request.url), encoded=True)
            response = await session.request(
                request.method,
                url,
                headers=CIMultiDict(
                    (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
                ),
                data=request.content or None,
                allow_redirects=False,
                # aiohttp's `connect` spans the pool wait, DNS and the handshake; `sock_connect` the socket alone.
                timeout=aiohttp.ClientTimeout(connect=connect_s, sock_connect=connect_s, sock_read=timeout.get("read")),
            )
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise as_httpx_error(error) from error
        version = response.version or aiohttp.HttpVersion11
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response),
            request=request,
            extensions={"http_version": f"HTTP/{version.major}.{version.minor}".encode()},
        )

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        *,
        connect_timeout_s: float,
        service: str,
        max_body_bytes: int,
    ) -> Reply:
        """The direct path (`bff.downstream.http.DirectTransport`): `url` goes out as given (the caller encodes
        it), and the body of a 2xx answer is read and decoded here, within `max_body_bytes`, so no httpx objects
        are built at all."""
        session = self._session or self._open()
        try:
            response = await session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=content,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(connect=connect_timeout_s, sock_connect=connect_timeout_s),
            )
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise as_httpx_error(error) from error
        headers = JoinedHeaders(response.headers)
        try:
            if not 200 <= response.status < 300:
                return Reply(response.status, headers)
            body = await _read_body(response, service, max_body_bytes)
            return Reply(
                response.status, headers, decoded(body, headers.get("content-encoding"), max_body_bytes, service)
            )
        finally:
            response.release()

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(),
        )
        # aiohttp re-sends an idempotent request once when the connection drops; retries are the resilient
        # caller's, within its budget and deadline (aiohttp's own test client turns this off the same way).
        self._session._retry_connection = False
        return self._session

    async def aclose(self) -> None:
        # Forgotten before it is closed: a call that starts meanwhile opens a new session, not the closing one.
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class JoinedHeaders(Mapping[str, str]):
    """aiohttp's headers as httpx reads them: a repeated header is one value, its values joined with ", " (two
    Cache-Control lines are both obeyed, not only the first)."""

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._headers.getall(name))

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        values = self._headers.getall(name, None)  # a missing header raises nothing: no KeyError per lookup
        return default if values is None else ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name.lower() for name in self._headers))

    def __len__(self) -> int:
        return len({name.lower() for name in self._headers})

    def __contains__(self, name: object) -> bool:
        return name in self._headers


async def _read_body(response: aiohttp.ClientResponse, service: str, limit: int) -> bytes:
    try:
        if declared_within(response.headers.get("content-length"), limit, service):
            return await response.read()
        return await read_capped(response.content.iter_any(), limit, service)
    except (aiohttp.ClientError, OSError) as error:
        raise as_httpx_error(error) from error


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, OSError) as error:
            raise as_httpx_error(error) from error

    async def aclose(self) -> None:
        # A body read to the end hands the connection back to the pool; an unread one closes it.
        self._response.release()
