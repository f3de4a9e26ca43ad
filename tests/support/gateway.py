"""What API Gateway's JWT authorizer does for an in-process app: verified claims into the Lambda event.

Mangum exposes the event as `scope["aws.event"]`; this ASGI wrapper puts one there, with the claims of the test
header `x-test-claims` (JSON, values as strings as the gateway sends them), and removes that header. Without it
the event has no authorizer, as when a route is deployed without one. The Lambda context is Mangum's
`scope["aws.context"]` (5 s left).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.lambda_context import FakeLambdaContext

CLAIMS_HEADER = b"x-test-claims"


class GatewayClaims:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(name, value) for name, value in scope["headers"] if name != CLAIMS_HEADER]
            claims = next((value for name, value in scope["headers"] if name == CLAIMS_HEADER), None)
            context: dict[str, Any] = {"requestId": "test-request"}
            if claims is not None:
                context["authorizer"] = {"jwt": {"claims": json.loads(claims), "scopes": None}}
            event = {"requestContext": context}
            scope = {**scope, "headers": headers, "aws.event": event, "aws.context": FakeLambdaContext()}
        await self.app(scope, receive, send)


def claims_header(sub: str | None = "alice", scope: str = "cart:read cart:write", **extra: str) -> dict[str, str]:
    claims = {"iss": "https://issuer.example.com/", "aud": "product-bff", "scope": scope, **extra}
    if sub is not None:
        claims["sub"] = sub
    return {CLAIMS_HEADER.decode(): json.dumps(claims)}
