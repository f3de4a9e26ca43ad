"""An API Gateway HTTP API (payload v2) event for in-process invocations (the Lambda context stand-in is
tests.support.lambda_context, shared with the tests)."""

import time
import uuid
from typing import Any

ROUTE_KEY = "GET /product-details/{id}"


def product_details_event(product_id: str) -> dict[str, Any]:
    path = f"/product-details/{product_id}"
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": ROUTE_KEY,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "host": "bench.execute-api.us-east-1.amazonaws.com",
            "user-agent": "bench",
            "x-forwarded-for": "127.0.0.1",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": ROUTE_KEY,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": {"id": product_id},
        "isBase64Encoded": False,
    }
