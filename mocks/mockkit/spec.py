"""What makes one mock service different from another: its name, route, data and default latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mockkit.catalogue import FIXTURE_IDS
from mockkit.payloads import Document


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service answering `GET /{collection}/{id}` with `render(id)` for the ids in `known_ids`."""

    name: str
    collection: str
    default_latency_ms: int
    render: Callable[[str], Document]
    known_ids: frozenset[str] = FIXTURE_IDS
