"""A shared store's recent failure, remembered per execution environment: for a short while after a timeout, a
refused connection or a throttle, the store is not asked at all.

Without it a hung or slow store would cost every request its read timeout, and the writes that follow a failed
read their write timeout on top: the page would pay twice, and then again on the next request. With it the first
request pays one read timeout (its reads run in parallel), its writes are skipped, and the requests that follow
for `cool_off_s` pay nothing; then one request tries again.
"""

from __future__ import annotations

import time

from bff.cache.entry import Clock, StoreErrorKind

HEALTH_KINDS: frozenset[StoreErrorKind] = frozenset({"timeout", "throttled", "error"})


class Outage:
    def __init__(self, cool_off_s: float, clock: Clock = time.monotonic) -> None:
        if cool_off_s < 0:
            raise ValueError("cool_off_s must not be negative")
        self.cool_off_s = cool_off_s
        self._clock = clock
        self._skip_until = 0.0

    def allows_calls(self) -> bool:
        return self._clock() >= self._skip_until

    def record(self, kind: StoreErrorKind) -> None:
        """A failure of `kind`: one that says the store is unwell starts the cool-off."""
        if kind in HEALTH_KINDS:
            self._skip_until = self._clock() + self.cool_off_s
