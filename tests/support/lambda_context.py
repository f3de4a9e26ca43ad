"""The one stand-in for the context object Lambda passes to a handler (tests and the in-process bench)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools and the BFF read."""

    function_name: str = "product-bff-BffFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:product-bff-BffFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/product-bff-BffFunction"
    log_stream_name: str = "2026/11/26/[$LATEST]0123456789abcdef"
    remaining_ms: int = 5_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
