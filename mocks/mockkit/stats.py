"""Traffic counters behind GET /__mock/stats: requests per route, TCP connections, batch sizes, identity headers,
and the most requests answered at once (maxInFlight)."""

from __future__ import annotations

from collections import Counter, deque

from mockkit.payloads import JsonValue
from mockkit.request import MockRequest

# Bounds on the lists, so that a long-lived mock (a warm Lambda) keeps a fixed footprint.
MAX_BATCH_SIZES = 1000
MAX_IDENTITY_ENTRIES = 100
IDENTITY_HEADERS = ("x-user-sub", "authorization")


class TrafficStats:
    def __init__(self) -> None:
        self._routes: Counter[str] = Counter()
        self._clients: set[tuple[str, int]] = set()
        self._batch_sizes: deque[int] = deque(maxlen=MAX_BATCH_SIZES)
        self._identity: deque[dict[str, JsonValue]] = deque(maxlen=MAX_IDENTITY_ENTRIES)
        self._in_flight = 0
        self._max_in_flight = 0

    def enter(self) -> None:
        """A counted request starts being answered (its latency included)."""
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def leave(self) -> None:
        self._in_flight -= 1

    def record(self, request: MockRequest, route: str, *, batch_size: int | None = None) -> None:
        """A connection is told apart by its client (host, port): a reused connection keeps its port."""
        self._routes[route] += 1
        if request.client is not None:
            self._clients.add(request.client)
        if batch_size is not None:
            self._batch_sizes.append(batch_size)
        if any(name in request.headers for name in IDENTITY_HEADERS):
            self._identity.append(
                {
                    "route": route,
                    "path": request.path,
                    "xUserSub": request.headers.get("x-user-sub"),
                    "authorization": request.headers.get("authorization"),
                }
            )

    def snapshot(self) -> JsonValue:
        return {
            "requests": self._routes.total(),
            "connections": len(self._clients),
            "routes": dict(self._routes),
            "batchSizes": list(self._batch_sizes),
            "identity": list(self._identity),
            "maxInFlight": self._max_in_flight,
        }
