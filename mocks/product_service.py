"""Mock product service: `GET /products/{id}` answers the product after 50 ms. The page's critical section."""

from __future__ import annotations

from mangum import Mangum

from mockkit import Document, ServiceSpec, create_app


def describe_product(product_id: str) -> Document:
    return {
        "id": product_id,
        "name": f"Awesome Gadget {product_id}",
        "description": f"The gadget {product_id} does everything a gadget should, and then some.",
        "price": 9999,  # cents
    }


SPEC = ServiceSpec(name="product", collection="products", default_latency_ms=50, render=describe_product)
app = create_app(SPEC)
lambda_handler = Mangum(app, lifespan="off")
