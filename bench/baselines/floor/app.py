"""The stack's floor: the packages this BFF must use and nothing of ours.

FastAPI + Mangum + a bare aiohttp session, three concurrent GETs, each body parsed as JSON, no logs, no metrics,
no validation, no resilience. A warm invocation of this is the least CPU any BFF on this stack can spend, so
the contender's CPU is read against it (issue 14: at most 1.5x).
"""

import asyncio
import os
from typing import Any

import aiohttp
from fastapi import FastAPI
from mangum import Mangum

PRODUCT_SERVICE_URL = os.environ.get("PRODUCT_SERVICE_URL", "http://127.0.0.1:8081")
REVIEW_SERVICE_URL = os.environ.get("REVIEW_SERVICE_URL", "http://127.0.0.1:8082")
INVENTORY_SERVICE_URL = os.environ.get("INVENTORY_SERVICE_URL", "http://127.0.0.1:8083")

# As the contender does: one loop for the environment, so the pooled connections stay usable.
_loop = asyncio.new_event_loop()
asyncio.set_event_loop(_loop)
_session: aiohttp.ClientSession | None = None

app = FastAPI()


def _client() -> aiohttp.ClientSession:
    global _session  # noqa: PLW0603 - one pool per environment, opened inside the loop on first use
    if _session is None:
        _session = aiohttp.ClientSession()
    return _session


async def _get_json(url: str) -> Any:
    async with _client().get(url) as response:
        return await response.json()


@app.get("/product-details/{product_id}")
async def product_details(product_id: str) -> dict[str, Any]:
    product, reviews, inventory = await asyncio.gather(
        _get_json(f"{PRODUCT_SERVICE_URL}/products/{product_id}"),
        _get_json(f"{REVIEW_SERVICE_URL}/reviews/{product_id}"),
        _get_json(f"{INVENTORY_SERVICE_URL}/inventory/{product_id}"),
    )
    return {"product": product, "reviews": reviews, "inventory": inventory}


_mangum = Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    asyncio.set_event_loop(_loop)
    return _mangum(event, context)
