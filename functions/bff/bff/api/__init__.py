"""The inbound edge: the FastAPI app, its middleware, validation and problem+json answers."""
