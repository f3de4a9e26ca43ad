"""How long a service usually takes to answer: the fan-out starts the slowest call first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class LatencyEstimate:
    """Exponentially weighted mean of answer times (ms); 0 until the first answer."""

    weight: float = 0.2
    mean_ms: float = 0.0
    _seen: bool = False

    def record(self, duration_ms: float) -> None:
        if not self._seen:
            self.mean_ms, self._seen = duration_ms, True
            return
        self.mean_ms += self.weight * (duration_ms - self.mean_ms)
