"""A retry budget per downstream and per execution environment: gRPC's retry throttling token bucket.

Every failed attempt takes a token and every success gives back `token_ratio`. Retries and hedges are allowed
only while more than half the tokens remain, and each hedge spends a token. A downstream that fails every call
therefore gets at most about max_tokens / 2 extra attempts before callers fall back to one attempt per request,
which keeps an outage from turning into a retry storm.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RetryBudget:
    max_tokens: float = 10.0
    token_ratio: float = 0.1
    tokens: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.max_tokens

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2

    def record_success(self) -> None:
        self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def record_failure(self) -> None:
        self.tokens = max(0.0, self.tokens - 1)

    def spend_on_hedge(self) -> None:
        self.record_failure()
