"""The last good answer of each downstream, per id, kept in memory for a TTL to serve when a call fails."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from bff.core.outcomes import JsonValue

type Clock = Callable[[], float]


@dataclass(slots=True)
class LastKnownGood:
    ttl_s: float
    max_entries: int
    clock: Clock = time.monotonic
    _entries: OrderedDict[tuple[str, str], tuple[JsonValue, float]] = field(default_factory=OrderedDict, init=False)

    def remember(self, service: str, entity_id: str, value: JsonValue) -> None:
        key = (service, entity_id)
        self._entries[key] = (value, self.clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def recall(self, service: str, entity_id: str) -> tuple[JsonValue, float] | None:
        """The stored value and its age in seconds, while it is younger than the TTL."""
        entry = self._entries.get((service, entity_id))
        if entry is None:
            return None
        value, stored_at = entry
        age_s = self.clock() - stored_at
        if age_s > self.ttl_s:
            del self._entries[(service, entity_id)]
            return None
        return value, age_s
