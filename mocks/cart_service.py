"""Mock cart service: `GET /carts/{userId}` and idempotent `POST /carts/{userId}/items`, after 40 ms."""

from __future__ import annotations

from mangum import Mangum

from mockkit import CartSpec, create_app

SPEC = CartSpec()
app = create_app(SPEC)
lambda_handler = Mangum(app, lifespan="off")
