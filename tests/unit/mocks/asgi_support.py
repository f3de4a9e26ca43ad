"""Driving a mock in-process: through httpx's ASGI transport, or by hand to see every ASGI message."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx

from mockkit import MockService, create_app
from mockkit.asgi import Message
from mockkit.routes import Spec


def mock_app(spec: Spec, **env: str) -> MockService:
    """A mock configured from exactly these MOCK_* variables; no latency unless MOCK_LATENCY_MS says so."""
    return create_app(spec, {"MOCK_LATENCY_MS": "0", **env})


def client_for(app: MockService, client: tuple[str, int] = ("127.0.0.1", 50000)) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(cast(Any, app), client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://mock.test")


class AsgiExchange:
    """One request driven by hand (a GET unless the test sets scope["method"] and body): records what the app
    sends and lets the test decide when the client leaves."""

    def __init__(self, path: str, headers: dict[str, str] | None = None) -> None:
        self.scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "headers": [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
            "client": ("127.0.0.1", 50000),
        }
        self.body = b""
        self.sent: list[Message] = []
        self._request_delivered = False
        self._client_left = asyncio.Event()

    def leave(self) -> None:
        self._client_left.set()

    async def receive(self) -> Message:
        if not self._request_delivered:
            self._request_delivered = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self._client_left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def run(self, app: MockService) -> None:
        await app(self.scope, self.receive, self.send)

    @property
    def status(self) -> int | None:
        starts = [message["status"] for message in self.sent if message["type"] == "http.response.start"]
        return starts[0] if starts else None

    @property
    def headers(self) -> dict[str, str]:
        start = next(message for message in self.sent if message["type"] == "http.response.start")
        return {name.decode(): value.decode() for name, value in start["headers"]}

    @property
    def body_chunks(self) -> list[bytes]:
        return [message["body"] for message in self.sent if message["type"] == "http.response.body"]

    @property
    def complete(self) -> bool:
        bodies = [message for message in self.sent if message["type"] == "http.response.body"]
        return bool(bodies) and not bodies[-1]["more_body"]
