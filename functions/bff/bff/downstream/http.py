"""The one outbound HTTP client: httpx requests and transports, built in one place so the transport can be swapped.

Requests go straight to the transport. httpx's AsyncClient layers (URL merging, cookie jar, auth and redirect
flows, event hooks) cost about as much CPU as the transport itself and give a BFF nothing it wants: it must not
follow redirects or keep cookies, and it signs with its own role. What stays is httpx's Request and Response,
its transports (MockTransport and respx in tests) and its exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Literal, Self

import httpx

from bff.downstream.egress import AllowListTransport, allowed_hosts_for
from bff.downstream.signing import SigV4Signer, downstream_auth
from bff.settings import Settings

USER_AGENT = "product-bff/0.1"
# The request extension that names the service a call is for; the transports ignore keys they do not know.
SERVICE_EXTENSION = "bff.service"
KEEPALIVE_EXPIRY_S = 60.0
type TransportName = Literal["aiohttp", "httpx"]


class OutboundHttp:
    """GETs (and JSON POSTs) through one pooled transport that reaches only the configured services."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, signer: SigV4Signer | None, *, connect_timeout_s: float
    ) -> None:
        self._transport = transport
        self._signer = signer
        self._connect_timeout_s = connect_timeout_s

    async def get(
        self, url: str, headers: Mapping[str, str], timeout_s: float, *, service: str | None = None
    ) -> httpx.Response:
        """The response with its body still to be read; the caller must `aclose()` it. `service` picks the
        connection pool (one per service)."""
        return await self._send("GET", url, headers, timeout_s, service=service)

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout_s: float, *, service: str | None = None
    ) -> httpx.Response:
        """A JSON POST, signed like a GET (the body's hash is part of the signature); the caller `aclose()`s."""
        return await self._send(
            "POST", url, {**headers, "content-type": "application/json"}, timeout_s, service=service, content=body
        )

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        timeout_s: float,
        *,
        service: str | None,
        content: bytes | None = None,
    ) -> httpx.Response:
        request = httpx.Request(
            method,
            url,
            headers={"user-agent": USER_AGENT, "accept": "application/json", "accept-encoding": "identity", **headers},
            content=content,
            # Only the connect timeout here: the caller bounds the whole exchange with one asyncio timeout, and
            # per-read timers in the transport would cost a timer per chunk for nothing.
            extensions={
                "timeout": {
                    "connect": min(self._connect_timeout_s, timeout_s),
                    "read": None,
                    "write": None,
                    "pool": None,
                },
                SERVICE_EXTENSION: service,
            },
        )
        if self._signer is not None and self._signer.signs_for(request.url.host):
            self._signer.sign(request)
        return await self._transport.handle_async_request(request)

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


class PerServiceTransport(httpx.AsyncBaseTransport):
    """One connection pool per service, so a service that hangs can hold only its own connections. Requests
    that name no known service share a fallback pool."""

    def __init__(self, pools: Mapping[str, httpx.AsyncBaseTransport], fallback: httpx.AsyncBaseTransport) -> None:
        self._pools = dict(pools)
        self._fallback = fallback

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pools.get(request.extensions.get(SERVICE_EXTENSION) or "", self._fallback)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in (*self._pools.values(), self._fallback):
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
    inner = transport or _per_service_transport(settings)
    return OutboundHttp(
        AllowListTransport(inner, allowed_origins or allowed_hosts_for(settings.service_urls().values())),
        downstream_auth(settings.downstream_auth, settings.aws_region),
        connect_timeout_s=settings.connect_timeout_ms / 1000,
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
