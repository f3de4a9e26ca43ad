"""Mock reviews service: `GET /reviews/{id}` answers two reviews after 80 ms, the slowest of the three."""

from __future__ import annotations

from mangum import Mangum

from mockkit import Document, ServiceSpec, create_app


def reviews_of(product_id: str) -> Document:
    return [
        {"productId": product_id, "rating": 5, "comment": "Love it!", "author": "Alice"},
        {"productId": product_id, "rating": 4, "comment": "Pretty good.", "author": "Bob"},
    ]


SPEC = ServiceSpec(name="reviews", collection="reviews", default_latency_ms=80, render=reviews_of)
app = create_app(SPEC)
lambda_handler = Mangum(app, lifespan="off")
