"""The write use cases: the cart's requests and the idempotency that makes their retries safe."""
