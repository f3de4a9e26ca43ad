"""The SSRF guard: the outbound client reaches only the configured downstream origins.

URLs are built from settings plus an encoded id, and redirects are not followed, so the guard is defence in
depth: whatever slips through (a bad base URL, a future code path) cannot reach the instance metadata service,
the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API, 127.0.0.1:9001) or anything else that is not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORBIDDEN_CHARACTERS = frozenset("\\\t\r\n ")


def origin_of(url: str | httpx.URL) -> str | None:
    """`scheme://host:port` of an http(s) URL without userinfo, or None when the URL is not one."""
    if isinstance(url, str):
        if _FORBIDDEN_CHARACTERS.intersection(url):
            return None
        try:
            url = httpx.URL(url)
        except httpx.InvalidURL:
            return None
    # raw_host: the host as it goes on the wire (IDNA-encoded, lowercased); decoding it could raise.
    if url.scheme not in _DEFAULT_PORTS or not url.raw_host or url.userinfo:
        return None
    port = _DEFAULT_PORTS[url.scheme] if url.port is None else url.port
    if not 0 < port < 65536:
        return None
    return f"{url.scheme}://{url.raw_host.decode('ascii')}:{port}"


def allowed_hosts_for(base_urls: Iterable[str]) -> frozenset[str]:
    return frozenset(origin for url in base_urls if (origin := origin_of(url)) is not None)


def is_allowed_downstream(url: str | httpx.URL, allowed_hosts: Collection[str]) -> bool:
    origin = origin_of(url)
    return origin is not None and origin in allowed_hosts


class AllowListTransport(httpx.AsyncBaseTransport):
    """Refuses, as a connection error, any request to an origin outside the allow-list. The list is either fixed
    or a function read at each request (the service registry's current origins, which follow a moved service)."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, allowed_hosts: Collection[str] | Callable[[], Collection[str]]
    ) -> None:
        self._inner = inner
        if callable(allowed_hosts):
            self._allowed_hosts = allowed_hosts
        else:
            fixed = frozenset(allowed_hosts)
            self._allowed_hosts = lambda: fixed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_allowed_downstream(request.url, self._allowed_hosts()):
            raise httpx.ConnectError("destination is not an allowed downstream", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
