"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float
    cap_s: float
    uniform: Callable[[float, float], float] = random.uniform

    def delay_s(self, retry_number: int, retry_after_s: float | None = None) -> float:
        """The wait before retry `retry_number` (0 for the first retry); a server's Retry-After wins."""
        if retry_after_s is not None:
            return retry_after_s
        return self.uniform(0.0, min(self.cap_s, self.base_s * 2**retry_number))
