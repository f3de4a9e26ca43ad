"""Time budgets: the page's deadline and what is left of it for each downstream call."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

API_GATEWAY_INTEGRATION_LIMIT_MS = 30_000

type Clock = Callable[[], float]


@dataclass(slots=True)
class Waits:
    """The spans of time one request spent waiting on something optional (the shared cache), overlaps counted
    once: a page's sections wait on one L2 read together, and their writes run side by side."""

    spans: list[tuple[float, float]] = field(default_factory=list)

    def add(self, started: float, ended: float) -> None:
        self.spans.append((started, ended))

    def total_s(self) -> float:
        total, reached = 0.0, float("-inf")
        for started, ended in sorted(self.spans):
            if ended > reached:
                total += ended - max(started, reached)
                reached = ended
        return total


@dataclass(frozen=True, slots=True)
class Deadline:
    expires_at: float
    clock: Clock = field(default=time.monotonic, compare=False)
    cache_waits: Waits = field(default_factory=Waits, compare=False)
    """What the request has waited on the shared cache so far: its reads and writes share one allowance."""

    @classmethod
    def after_ms(cls, budget_ms: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + max(budget_ms, 0.0) / 1000, clock)

    def remaining_s(self) -> float:
        return max(self.expires_at - self.clock(), 0.0)

    def expired(self) -> bool:
        return self.remaining_s() <= 0.0

    def cap_s(self, timeout_ms: float) -> float:
        """A call's own timeout, cut to what is left of the page's budget."""
        return min(timeout_ms / 1000, self.remaining_s())


def page_budget_ms(page_deadline_ms: int, lambda_remaining_ms: int | None, reserve_ms: int) -> float:
    """The least of the page budget, the Lambda's remaining time less a reserve, and API Gateway's limit."""
    candidates = [float(page_deadline_ms), float(API_GATEWAY_INTEGRATION_LIMIT_MS - reserve_ms)]
    if lambda_remaining_ms is not None:
        candidates.append(float(lambda_remaining_ms - reserve_ms))
    return max(min(candidates), 0.0)
