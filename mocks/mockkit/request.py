"""What the mock needs from one ASGI request, read from its scope."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from mockkit.asgi import Scope


@dataclass(frozen=True, slots=True)
class MockRequest:
    method: str
    path: str
    segments: tuple[str, ...]
    correlation_id: str | None
    traceparent: str | None
    client: tuple[str, int] | None
    behind_api_gateway: bool

    @classmethod
    def from_scope(cls, scope: Scope) -> MockRequest:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        client = scope.get("client")
        return cls(
            method=scope["method"],
            path=scope["path"],
            segments=_segments(scope),
            correlation_id=headers.get("x-correlation-id"),
            traceparent=headers.get("traceparent"),
            client=(client[0], client[1]) if client else None,
            behind_api_gateway="aws.event" in scope,
        )


def _segments(scope: Scope) -> tuple[str, ...]:
    """Path segments, each percent-decoded exactly once.

    Splitting the raw path before decoding keeps an encoded slash (%2F) inside its segment. Mangum gives no
    raw path and has already decoded the path once, so there it is only split.
    """
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path is None:
        return tuple(scope["path"].split("/")[1:])
    return tuple(unquote(segment) for segment in raw_path.decode("latin-1").split("/")[1:])
