"""The naive build: FastAPI + httpx written the straightforward way, with Mangum's default lifespan."""

import asyncio
import os
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from mangum import Mangum

PRODUCT_SERVICE_URL = os.environ.get("PRODUCT_SERVICE_URL", "http://127.0.0.1:8081")
REVIEW_SERVICE_URL = os.environ.get("REVIEW_SERVICE_URL", "http://127.0.0.1:8082")
INVENTORY_SERVICE_URL = os.environ.get("INVENTORY_SERVICE_URL", "http://127.0.0.1:8083")

app = FastAPI()
client = httpx.AsyncClient(timeout=2.0)


async def fetch_json(url: str) -> Any:
    response = await client.get(url)
    response.raise_for_status()
    return response.json()


@app.get("/product-details/{product_id}")
async def product_details(product_id: str) -> Any:
    try:
        async with asyncio.timeout(0.5):
            results = await asyncio.gather(
                fetch_json(f"{PRODUCT_SERVICE_URL}/products/{product_id}"),
                fetch_json(f"{REVIEW_SERVICE_URL}/reviews/{product_id}"),
                fetch_json(f"{INVENTORY_SERVICE_URL}/inventory/{product_id}"),
                return_exceptions=True,
            )
    except TimeoutError:
        return JSONResponse({"error": "timeout"}, status_code=504)
    product, reviews, inventory = results
    if isinstance(product, BaseException):
        return JSONResponse({"error": "product unavailable"}, status_code=500)
    return {
        "product": product,
        "reviews": [] if isinstance(reviews, BaseException) else reviews,
        "inventory": ({"productId": product_id, "stock": 0} if isinstance(inventory, BaseException) else inventory),
    }


handler = Mangum(app)
