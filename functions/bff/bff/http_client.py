"""The one outbound HTTP client, built in one place so that its transport can be swapped."""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar
from typing import Literal

import httpx

from bff.egress import AllowListTransport, allowed_hosts_for
from bff.settings import Settings
from bff.signing import downstream_auth

USER_AGENT = "product-bff/0.1"
type TransportName = Literal["aiohttp", "httpx"]


def create_http_client(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A pooled client that reaches only the configured services: no redirects, no proxy variables, and an
    allow-list of origins. Keep-alive outlives a warm Lambda's idle gaps so warm invocations reuse connections."""
    limits = httpx.Limits(
        max_connections=settings.max_connections_per_service * 3,
        max_keepalive_connections=settings.max_connections_per_service * 3,
        keepalive_expiry=60.0,
    )
    inner = transport or _default_transport(settings.http_transport, limits)
    return httpx.AsyncClient(
        transport=AllowListTransport(inner, allowed_hosts_for(settings.service_urls().values())),
        auth=downstream_auth(settings.downstream_auth, settings.aws_region),
        timeout=httpx.Timeout(settings.page_deadline_ms / 1000, connect=settings.connect_timeout_ms / 1000),
        follow_redirects=False,
        trust_env=False,
        cookies=_NoCookieJar(),
        headers={"user-agent": USER_AGENT, "accept": "application/json"},
    )


class _NoCookieJar(CookieJar):
    """One client serves every user of the environment: a downstream Set-Cookie must never be kept and replayed
    on another user's request."""

    def set_cookie(self, cookie: Cookie) -> None:
        return None

    def extract_cookies(self, response: object, request: object) -> None:
        return None


def _default_transport(name: TransportName, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    if name == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    from bff.aiohttp_transport import AiohttpTransport  # noqa: PLC0415 - aiohttp stays unimported when unused

    return AiohttpTransport(limits=limits, trust_env=False)
