"""Mock inventory service: `GET /inventory/{id}` answers the stock level after 30 ms."""

from __future__ import annotations

from mangum import Mangum

from mockkit import Document, ServiceSpec, create_app


def stock_of(product_id: str) -> Document:
    return {"productId": product_id, "stock": 10 + len(product_id) % 5}


SPEC = ServiceSpec(name="inventory", collection="inventory", default_latency_ms=30, render=stock_of)
app = create_app(SPEC)
lambda_handler = Mangum(app, lifespan="off")
