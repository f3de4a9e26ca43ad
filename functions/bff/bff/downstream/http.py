"""The one outbound HTTP path: plain values in, a read `Reply` out, through one `Transport` per service.

Every request goes the same way: allow-list, default headers, SigV4 signature (on the values that are sent), then
`Transport.exchange`. No httpx Request or Response is built on the way: that conversion cost a fifth of a warm
invocation's CPU, and httpx's AsyncClient layers (URL merging, cookies, auth and redirect flows) give a BFF
nothing it wants: it must not follow redirects or keep cookies, and it signs with its own role.

`Transport` is the one seam. Production uses aiohttp's pool (`bff.downstream.transport.AiohttpTransport`);
`HttpxTransport` runs any httpx transport behind the same protocol: httpx.MockTransport in tests, httpx's own pool
with HTTP_TRANSPORT=httpx. Every transport raises httpx's exceptions, so callers see one exception tree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Literal, Protocol, Self

import httpx

from bff.config.settings import Settings
from bff.downstream.egress import AllowList, allowed_hosts_for, scheme_and_authority
from bff.downstream.reply import Reply, capped, declared_within, decoded, read_capped
from bff.downstream.signing import SigV4Signer, downstream_auth

USER_AGENT = "product-bff/0.1"
DEFAULT_HEADERS = {"user-agent": USER_AGENT, "accept": "application/json", "accept-encoding": "identity"}
KEEPALIVE_EXPIRY_S = 60.0
type TransportName = Literal["aiohttp", "httpx"]


class Transport(Protocol):
    """A connection pool that sends a request given as plain values and answers a `Reply`, the body of a 2xx
    answer read (within `max_body_bytes`) and decoded. `url` goes out as given: the caller has encoded it."""

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
    ) -> Reply: ...

    async def aclose(self) -> None:
        """Closes every pooled connection; the transport opens new ones on its next request."""


class OutboundHttp:
    """GETs (and JSON POSTs) through one pool per service that reaches only the allowed origins."""

    def __init__(
        self,
        transport: Transport,
        signer: SigV4Signer | None,
        *,
        connect_timeout_s: float,
        allow_list: AllowList,
    ) -> None:
        self._transport = transport
        self._signer = signer
        self._connect_timeout_s = connect_timeout_s
        self._allow_list = allow_list
        self._signed_origins: dict[str, bool] = {}

    async def get(
        self, url: str, headers: Mapping[str, str], timeout_s: float, *, service: str, max_body_bytes: int
    ) -> Reply:
        """The answer, its body read when it is 2xx. `service` picks the connection pool (one per service)."""
        return await self._send("GET", url, headers, timeout_s, service=service, max_body_bytes=max_body_bytes)

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float,
        *,
        service: str,
        max_body_bytes: int,
    ) -> Reply:
        """A JSON POST, signed like a GET (the body's hash is part of the signature)."""
        return await self._send(
            "POST",
            url,
            {**headers, "content-type": "application/json"},
            timeout_s,
            service=service,
            max_body_bytes=max_body_bytes,
            content=body,
        )

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        timeout_s: float,
        *,
        service: str,
        max_body_bytes: int,
        content: bytes | None = None,
    ) -> Reply:
        if not self._allow_list.permits(url):
            raise httpx.ConnectError("destination is not an allowed downstream")
        if not url.isascii():  # encoded once here, so that what is signed is what every transport sends
            url = str(httpx.URL(url))
        headers = {**DEFAULT_HEADERS, **headers}
        signer = self._signer
        if signer is not None and self._signs(signer, url):
            signer.sign(method, url, headers, content)
        # Only the connect timeout here: the caller bounds the whole exchange with one asyncio timeout, and
        # per-read timers in the transport would cost a timer per chunk for nothing.
        return await self._transport.exchange(
            method,
            url,
            headers,
            content,
            connect_timeout_s=min(self._connect_timeout_s, timeout_s),
            service=service,
            max_body_bytes=max_body_bytes,
        )

    def _signs(self, signer: SigV4Signer, url: str) -> bool:
        """Whether this URL's origin gets a SigV4 signature (decided once per origin)."""
        prefix = scheme_and_authority(url)
        signs = self._signed_origins.get(prefix)
        if signs is None:
            signs = self._signed_origins[prefix] = signer.signs_for(httpx.URL(prefix).host)
        return signs

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def reset(self) -> None:
        """Drops every pooled connection (each pool reopens on its next request) and re-reads the signing
        credentials: after a SnapStart restore the sockets are dead and the credentials may be another's."""
        await self._transport.aclose()
        if self._signer is not None:
            self._signer.reload_credentials()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()


class PerServiceTransport:
    """One connection pool per service, so a service that hangs can hold only its own connections. Requests
    that name no known service share a fallback pool."""

    def __init__(self, pools: Mapping[str, Transport], fallback: Transport) -> None:
        self.pools = dict(pools)
        self._fallback = fallback

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
        pool = self.pools.get(service, self._fallback)
        return await pool.exchange(
            method,
            url,
            headers,
            content,
            connect_timeout_s=connect_timeout_s,
            service=service,
            max_body_bytes=max_body_bytes,
        )

    async def aclose(self) -> None:
        for pool in (*self.pools.values(), self._fallback):
            await pool.aclose()


class HttpxTransport:
    """Any httpx transport behind `Transport`: httpx.MockTransport in tests, httpx's own pool for
    HTTP_TRANSPORT=httpx. It builds the httpx Request and reads the httpx Response that the production pool
    avoids."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

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
        request = httpx.Request(
            method,
            url,
            headers=headers,
            content=content,
            extensions={"timeout": {"connect": connect_timeout_s, "read": None, "write": None, "pool": None}},
        )
        return await _read_reply(await self.transport.handle_async_request(request), service, max_body_bytes)

    async def aclose(self) -> None:
        await self.transport.aclose()


async def _read_reply(response: httpx.Response, service: str, max_body_bytes: int) -> Reply:
    try:
        if not response.is_success:
            return Reply(response.status_code, response.headers)
        if response.is_stream_consumed:  # read (and decoded) already: httpx's MockTransport hands responses so
            return Reply(response.status_code, response.headers, capped(response.content, max_body_bytes, service))
        declared_within(response.headers.get("content-length"), max_body_bytes, service)
        body = await read_capped(response.aiter_raw(), max_body_bytes, service)
        content_encoding = response.headers.get("content-encoding")
        return Reply(response.status_code, response.headers, decoded(body, content_encoding, max_body_bytes, service))
    finally:
        await response.aclose()


def create_http_client(
    settings: Settings,
    transport: Transport | None = None,
    allowed_origins: Callable[[], Collection[str]] | None = None,
) -> OutboundHttp:
    """No redirects (none are followed at all), no proxy variables, no cookies, an allow-list of origins, and
    keep-alive that outlives a warm Lambda's idle gaps so warm invocations reuse their connections.

    `allowed_origins` gives the allow-list at each request (the service registry's, which follows a moved
    service); without it, the settings' URLs are the list. The pools are per service, not per origin, so a
    service's new origin simply opens new connections in that service's pool."""
    return OutboundHttp(
        transport or _per_service_transport(settings),
        downstream_auth(settings.downstream_auth, settings.aws_region),
        connect_timeout_s=settings.connect_timeout_ms / 1000,
        allow_list=AllowList(allowed_origins or allowed_hosts_for(settings.service_urls().values())),
    )


def _per_service_transport(settings: Settings) -> PerServiceTransport:
    pools = {
        name: _default_transport(settings.http_transport, _limits(service.max_connections))
        for name, service in settings.services.items()
    }
    fallback_size = min(service.max_connections for service in settings.services.values())
    return PerServiceTransport(pools, _default_transport(settings.http_transport, _limits(fallback_size)))


def _limits(max_connections: int) -> httpx.Limits:
    return httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=KEEPALIVE_EXPIRY_S
    )


def _default_transport(name: TransportName, limits: httpx.Limits) -> Transport:
    if name == "httpx":
        return HttpxTransport(httpx.AsyncHTTPTransport(limits=limits, trust_env=False))
    from bff.downstream.transport import AiohttpTransport  # noqa: PLC0415 - aiohttp stays unimported when unused

    return AiohttpTransport(limits)
