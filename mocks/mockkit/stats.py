"""Traffic counters behind GET /__mock/stats: how many requests, over how many TCP connections."""

from __future__ import annotations

from mockkit.payloads import JsonValue


class TrafficStats:
    def __init__(self) -> None:
        self._requests = 0
        self._clients: set[tuple[str, int]] = set()

    def record(self, client: tuple[str, int] | None) -> None:
        """A connection is told apart by its client (host, port): a reused connection keeps its port."""
        self._requests += 1
        if client is not None:
            self._clients.add(client)

    def snapshot(self) -> JsonValue:
        return {"requests": self._requests, "connections": len(self._clients)}
