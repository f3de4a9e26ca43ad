"""What the mock needs from one ASGI request, read from its scope (and, for writes, its body)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from mockkit.asgi import Receive, Scope

MAX_BODY_BYTES = 4 * 1024


@dataclass(frozen=True, slots=True)
class Body:
    """Up to MAX_BODY_BYTES of the request body; `too_large` when the client sent more (the rest is not read)."""

    content: bytes = b""
    too_large: bool = False


@dataclass(frozen=True, slots=True)
class MockRequest:
    method: str
    path: str
    segments: tuple[str, ...]
    correlation_id: str | None
    traceparent: str | None
    client: tuple[str, int] | None
    behind_api_gateway: bool
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = field(default_factory=Body)

    @classmethod
    def from_scope(cls, scope: Scope, body: Body | None = None) -> MockRequest:
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
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body or Body(),
        )


async def read_body(receive: Receive) -> Body | None:
    """The body, read until it ends or passes MAX_BODY_BYTES; None when the client disconnected first."""
    content = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        content += message.get("body", b"")
        if len(content) > MAX_BODY_BYTES:
            return Body(content[:MAX_BODY_BYTES], too_large=True)
        if not message.get("more_body", False):
            return Body(content)


def _segments(scope: Scope) -> tuple[str, ...]:
    """Path segments, each percent-decoded exactly once.

    Splitting the raw path before decoding keeps an encoded slash (%2F) inside its segment. Behind API Gateway,
    Mangum gives no raw path and a path it has decoded itself, so the event's `rawPath` (as the client sent it) is
    split instead; the decoded path is split only when the event has none.
    """
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path is not None:
        return tuple(unquote(segment) for segment in raw_path.decode("latin-1").split("/")[1:])
    event = scope.get("aws.event")
    event_raw_path = event.get("rawPath") if isinstance(event, Mapping) else None
    if isinstance(event_raw_path, str) and event_raw_path.startswith("/"):
        return tuple(unquote(segment) for segment in event_raw_path.split("/")[1:])
    return tuple(scope["path"].split("/")[1:])
