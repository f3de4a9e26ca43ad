"""A downstream answer as the client reads it, whichever transport fetched it: the body's size cap and its one
content coding rule."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass

from bff.errors import DownstreamBadResponseError


@dataclass(frozen=True, slots=True)
class Reply:
    """Status and headers (looked up case-insensitively, a repeated header's values joined with ", "), and the
    body when the status is 2xx, decoded: an error answer's body is not read, and a connection whose body was not
    read to its end is closed rather than drained."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


def declared_within(declared_length: str | None, limit: int, service: str) -> bool:
    """Whether a Content-Length was declared (and can be read in one go); raises when it is over `limit`."""
    if declared_length is None or not declared_length.isdigit():
        return False
    if int(declared_length) > limit:
        raise DownstreamBadResponseError(service, "declared body over the size cap")
    return True


def capped(body: bytes, limit: int, service: str) -> bytes:
    if len(body) > limit:
        raise DownstreamBadResponseError(service, "body over the size cap")
    return body


async def read_capped(chunks: AsyncIterable[bytes], limit: int, service: str) -> bytes:
    """The body from its chunks, refused as soon as it grows over `limit` (a body without a length, or one
    longer than it declared)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise DownstreamBadResponseError(service, "body over the size cap")
        parts.append(chunk)
    return b"".join(parts)


def decoded(body: bytes, content_encoding: str | None, limit: int, service: str) -> bytes:
    """The body without its content coding. We ask for identity; a service (or a gateway before it) that
    compresses anyway is still understood for gzip and deflate, within `limit` once decoded, so that a small
    compressed body cannot expand past the cap. Any other coding is a bad response."""
    coding = (content_encoding or "").strip().lower()
    if coding in {"", "identity"}:
        return body
    if coding in {"gzip", "x-gzip"}:
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, service)
    if coding == "deflate":  # zlib-wrapped as RFC 9110 says, or the raw deflate some servers send
        try:
            return _inflate(body, zlib.MAX_WBITS, limit, service)
        except DownstreamBadResponseError:
            return _inflate(body, -zlib.MAX_WBITS, limit, service)
    raise DownstreamBadResponseError(service, "unsupported content coding")


def _inflate(body: bytes, window_bits: int, limit: int, service: str) -> bytes:
    decompressor = zlib.decompressobj(window_bits)
    try:
        inflated = decompressor.decompress(body, limit + 1)
    except zlib.error:
        raise DownstreamBadResponseError(service, "body does not decode") from None
    if len(inflated) > limit or decompressor.unconsumed_tail:
        raise DownstreamBadResponseError(service, "decoded body over the size cap")
    if not decompressor.eof:
        raise DownstreamBadResponseError(service, "compressed body ends early")
    return inflated
