"""Per-downstream state for one execution environment: breaker, retry budget, bulkhead, hedging, latency."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bff.resilience.backoff import Backoff
from bff.resilience.breaker import Breaker
from bff.resilience.latency import LatencyEstimate
from bff.resilience.retry_budget import RetryBudget


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff: Backoff


@dataclass(slots=True)
class DownstreamGuard:
    breaker: Breaker
    budget: RetryBudget
    bulkhead: asyncio.Semaphore
    hedge_delay_s: float | None
    latency: LatencyEstimate = field(default_factory=LatencyEstimate)
