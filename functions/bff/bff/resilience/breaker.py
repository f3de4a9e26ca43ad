"""What a resilient call needs of a circuit breaker; the local CircuitBreaker and the fleet's FleetBreaker both
provide it."""

from __future__ import annotations

from typing import Protocol

from bff.resilience.circuit_breaker import BreakerState


class Breaker(Protocol):
    """What a guard asks of a breaker. A Protocol because there are two: the environment's own (CircuitBreaker) and
    the one that also obeys the fleet's shared state (bff.resilience.fleet_breaker.FleetBreaker)."""

    @property
    def state(self) -> BreakerState: ...

    def allow(self) -> bool:
        """Whether a call may go out now; a True in half-open state reserves the probe."""
        ...

    def retry_after_s(self) -> float: ...

    def record_success(self) -> None: ...

    def record_failure(self) -> None: ...

    def record_abandoned(self) -> None: ...
