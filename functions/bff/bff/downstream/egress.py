"""The SSRF guard: the outbound client reaches only the configured downstream origins.

URLs are built from settings plus an encoded id, and redirects are not followed, so the guard is defence in
depth: whatever slips through (a bad base URL, a future code path) cannot reach the instance metadata service,
the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API, 127.0.0.1:9001) or anything else that is not listed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Whitespace, the backslash and every other ASCII control character: no client should guess what they mean.
_FORBIDDEN_CHARACTERS = frozenset("\\ " + "".join(map(chr, range(0x20))) + "\x7f")
MAX_URL_LENGTH = 65_536  # httpx's own limit


def origin_of(url: str | httpx.URL) -> str | None:
    """`scheme://host:port` of an http(s) URL without userinfo, or None when the URL is not one."""
    if isinstance(url, str):
        if len(url) > MAX_URL_LENGTH or _FORBIDDEN_CHARACTERS.intersection(url):
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


class AllowList:
    """The origins the client may reach: fixed, or a function read at each request (the service registry's
    current origins, which follow a moved service)."""

    def __init__(self, origins: Collection[str] | Callable[[], Collection[str]]) -> None:
        if callable(origins):
            self._origins = origins
        else:
            fixed = frozenset(origins)
            self._origins = lambda: fixed

    def permits(self, url: str) -> bool:
        """Whether `origin_of(url)` is allowed, at the cost of a dictionary lookup per call: the origin is a
        function of the scheme and authority alone, which are the same for every call to one service."""
        if len(url) > MAX_URL_LENGTH or _FORBIDDEN_CHARACTERS.intersection(url):
            return False
        origin = _origin_of_prefix(scheme_and_authority(url))
        return origin is not None and origin in self._origins()


def scheme_and_authority(url: str) -> str:
    """`scheme://authority` of a URL: the authority ends at the first "/", "?" or "#" (RFC 3986, 3.2), as
    both httpx and yarl read it."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    end = min((index for index in map(rest.find, "/?#") if index >= 0), default=len(rest))
    return f"{scheme}://{rest[:end]}"


@functools.lru_cache(maxsize=256)
def _origin_of_prefix(prefix: str) -> str | None:
    return origin_of(prefix)
