"""A downstream answer as the client reads it, whichever transport fetched it, and the body's size cap."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass

from bff.errors import DownstreamBadResponseError


@dataclass(frozen=True, slots=True)
class Reply:
    """Status and headers (looked up case-insensitively), and the body when the status is 2xx: an error
    answer's body is never read, and its connection is closed rather than drained."""

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
