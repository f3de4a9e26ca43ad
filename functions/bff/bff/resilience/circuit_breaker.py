"""A circuit breaker per downstream: closed, open, half-open.

It trips on `failure_threshold` consecutive failures (Envoy ejects a host after 5 consecutive 5xx), or when
at least `window_failure_ratio` of the last `window_size` calls failed. A rule that needs many calls in a long
interval would never trip in a Lambda environment, which serves one request at a time. After `open_s` it lets
one probe through (half-open): success closes it, failure opens it again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

type Clock = Callable[[], float]
type TransitionListener = Callable[[str, "BreakerState", "BreakerState"], None]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def _ignore(_service: str, _old: BreakerState, _new: BreakerState) -> None:
    return None


@dataclass(slots=True)
class CircuitBreaker:
    service: str
    failure_threshold: int = 5
    window_size: int = 10
    window_failure_ratio: float = 0.5
    open_s: float = 5.0
    clock: Clock = time.monotonic
    on_transition: TransitionListener = _ignore
    state: BreakerState = field(default=BreakerState.CLOSED, init=False)
    _consecutive_failures: int = field(default=0, init=False)
    _window: deque[bool] = field(init=False)
    _opened_at: float = field(default=0.0, init=False)
    _probe_in_flight: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._window = deque(maxlen=self.window_size)

    def allow(self) -> bool:
        """Whether a call may go out now; a True in half-open state reserves the single probe."""
        if self.state is BreakerState.OPEN and self.retry_after_s() <= 0:
            self._move_to(BreakerState.HALF_OPEN)
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def retry_after_s(self) -> float:
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(self._opened_at + self.open_s - self.clock(), 0.0)

    def record_success(self) -> None:
        # Only the half-open probe may close the breaker: a call let through before the trip that succeeds late
        # says nothing about the service now.
        if self.state is BreakerState.OPEN:
            return
        if self.state is BreakerState.HALF_OPEN:
            if self._probe_in_flight:
                self._probe_in_flight = False
                self._consecutive_failures = 0
                self._window.clear()
                self._move_to(BreakerState.CLOSED)
            return
        self._consecutive_failures = 0
        self._window.append(True)

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self._consecutive_failures += 1
        self._window.append(False)
        if self.state is BreakerState.HALF_OPEN or self._should_trip():
            self._open()

    def record_abandoned(self) -> None:
        """The call was cancelled for reasons of our own; it says nothing about the service."""
        self._probe_in_flight = False

    def _should_trip(self) -> bool:
        if self.state is not BreakerState.CLOSED:
            return False
        if self._consecutive_failures >= self.failure_threshold:
            return True
        failures = self._window.count(False)
        return len(self._window) == self.window_size and failures >= self.window_failure_ratio * self.window_size

    def _open(self) -> None:
        self._opened_at = self.clock()
        self._move_to(BreakerState.OPEN)

    def _move_to(self, new_state: BreakerState) -> None:
        old_state, self.state = self.state, new_state
        if old_state is not new_state:
            self.on_transition(self.service, old_state, new_state)
