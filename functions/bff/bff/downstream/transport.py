"""The production connection pool: aiohttp's, which costs a fraction of httpx's own per call.

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

from collections.abc import Iterator, Mapping

import aiohttp
import httpx
from multidict import CIMultiDictProxy
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


class AiohttpTransport:
    """The production pool (`bff.downstream.http.Transport`): one aiohttp session, opened on first use inside the
    running loop, with no redirects, cookies or proxies and no retries of its own. aiohttp has no separate cap on
    idle connections: `max_keepalive_connections` is not used, `max_connections` caps all of them."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

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
        """Sends `url` as given (the caller encodes it) and reads and decodes the body of a 2xx answer within
        `max_body_bytes`; an error answer's body is not read. No httpx objects are built: converting to and from
        httpx's Request and Response cost a fifth of a warm invocation's CPU."""
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
