"""The one outbound HTTP client: httpx requests and transports, built in one place so the transport can be swapped.

Requests go straight to the transport. httpx's AsyncClient layers (URL merging, cookie jar, auth and redirect
flows, event hooks) cost about as much CPU as the transport itself and give a BFF nothing it wants: it must not
follow redirects or keep cookies, and it signs with its own role. What stays is httpx's transport interface
(MockTransport and respx in tests, httpx's own pool with HTTP_TRANSPORT=httpx) and its exceptions.

The production pool (aiohttp) is also reached directly, without building an httpx Request and Response per
call: that conversion cost a fifth of a warm invocation's CPU. Both paths answer with the same `Reply` and
raise the same exceptions; a request to an origin the signer signs for takes the httpx path, so what is signed is
what is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Literal, Protocol, Self, runtime_checkable

import httpx

from bff.config.settings import Settings
from bff.downstream.egress import AllowList, allowed_hosts_for, scheme_and_authority
from bff.downstream.reply import Reply, capped, declared_within, decoded, read_capped
from bff.downstream.signing import SigV4Signer, downstream_auth

USER_AGENT = "product-bff/0.1"
DEFAULT_HEADERS = {"user-agent": USER_AGENT, "accept": "application/json", "accept-encoding": "identity"}
# The request extension that names the service a call is for; the transports ignore keys they do not know.
SERVICE_EXTENSION = "bff.service"
KEEPALIVE_EXPIRY_S = 60.0
type TransportName = Literal["aiohttp", "httpx"]


@runtime_checkable
class DirectTransport(Protocol):
    """A pool that sends a request given as plain values and answers a read `Reply` (bff.downstream.transport)."""

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


class OutboundHttp:
    """GETs (and JSON POSTs) through one pool per service that reaches only the allowed origins."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        signer: SigV4Signer | None,
        *,
        connect_timeout_s: float,
        allow_list: AllowList,
    ) -> None:
        self._transport = transport
        self._signer = signer
        self._connect_timeout_s = connect_timeout_s
        self._allow_list = allow_list
        self._direct = _direct_pools(transport)
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
        # Only the connect timeout here: the caller bounds the whole exchange with one asyncio timeout, and
        # per-read timers in the transport would cost a timer per chunk for nothing.
        connect_timeout_s = min(self._connect_timeout_s, timeout_s)
        headers = {**DEFAULT_HEADERS, **headers}
        direct = self._direct.get(service)
        if direct is not None and url.isascii() and not self._signs(url):
            return await direct.exchange(
                method,
                url,
                headers,
                content,
                connect_timeout_s=connect_timeout_s,
                service=service,
                max_body_bytes=max_body_bytes,
            )
        request = httpx.Request(
            method,
            url,
            headers=headers,
            content=content,
            extensions={
                "timeout": {"connect": connect_timeout_s, "read": None, "write": None, "pool": None},
                SERVICE_EXTENSION: service,
            },
        )
        if self._signer is not None and self._signer.signs_for(request.url.host):
            self._signer.sign(request)
        return await _read_reply(await self._transport.handle_async_request(request), service, max_body_bytes)

    def _signs(self, url: str) -> bool:
        """Whether this URL's origin gets a SigV4 signature (decided once per origin)."""
        if self._signer is None:
            return False
        prefix = scheme_and_authority(url)
        signs = self._signed_origins.get(prefix)
        if signs is None:
            signs = self._signed_origins[prefix] = self._signer.signs_for(httpx.URL(prefix).host)
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


def _direct_pools(transport: httpx.AsyncBaseTransport) -> dict[str, DirectTransport]:
    if not isinstance(transport, PerServiceTransport):
        return {}
    return {name: pool for name, pool in transport.pools.items() if isinstance(pool, DirectTransport)}


class PerServiceTransport(httpx.AsyncBaseTransport):
    """One connection pool per service, so a service that hangs can hold only its own connections. Requests
    that name no known service share a fallback pool."""

    def __init__(self, pools: Mapping[str, httpx.AsyncBaseTransport], fallback: httpx.AsyncBaseTransport) -> None:
        self.pools = dict(pools)
        self._fallback = fallback

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self.pools.get(request.extensions.get(SERVICE_EXTENSION) or "", self._fallback)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in (*self.pools.values(), self._fallback):
            await pool.aclose()


def create_http_client(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
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


def _default_transport(name: TransportName, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    if name == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    from bff.downstream.transport import AiohttpTransport  # noqa: PLC0415 - aiohttp stays unimported when unused

    return AiohttpTransport(limits)
