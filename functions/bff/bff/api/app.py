"""The FastAPI application: the edge middleware, problem+json for every error, and the routers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response

from bff.api.failures import failure_response
from bff.api.middleware import EdgeMiddleware, TimingAllowOriginMiddleware, correlation_id_of
from bff.api.openapi import add_openapi_route, complete_document
from bff.api.routes import batch, cart, pages
from bff.api.validators import ValidatorMiddleware
from bff.config.settings import Settings
from bff.errors import ProblemError

# Smaller bodies gain little from gzip. Mangum sends a body base64-encoded when it does not decode as UTF-8, and a
# gzip body never does (its second byte, 0x8b, cannot start a UTF-8 character): API Gateway decodes it again.
GZIP_MINIMUM_BYTES = 1024
# zlib's default: close to level 9's ratio on JSON, for less CPU.
GZIP_LEVEL = 6

# Readable by browser code (devtools show Server-Timing either way) when CORS lets the page's origin in.
EXPOSED_HEADERS = ["server-timing", "x-correlation-id", "retry-after", "idempotent-replayed"]
CORS_ALLOWED_HEADERS = [
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "accept-language",
    "authorization",
    "content-type",
    "idempotency-key",
]


def create_app(settings: Settings) -> FastAPI:
    """The routes and their middleware; the services they call are put in `app.state` by the composition root
    (bff.api.deps.provide)."""
    # FastAPI's own OpenTelemetry spans stay off: the handler's SERVER span covers the whole invocation
    # (bff.observability.tracing), and ours uses a tracer provider of its own, never the global one.
    app = FastAPI(
        title="Product BFF",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Inside out: gzip, then the validators (they tag what gzip sent), then the edge (its catch-all covers both).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(ValidatorMiddleware)
    app.add_middleware(EdgeMiddleware)
    if cors_origins := settings.cors_origins():
        add_cors(app, cors_origins)
    for failure in (ProblemError, HTTPException, RequestValidationError):
        app.add_exception_handler(failure, problem_response)
    app.openapi = complete_document(app.openapi, issuer=settings.jwt_issuer)  # type: ignore[method-assign]
    add_openapi_route(app)
    app.include_router(batch.router)
    app.include_router(pages.router)
    app.include_router(cart.router)
    return app


def add_cors(app: FastAPI, origins: list[str]) -> None:
    """CORS for the allowed origins, and Timing-Allow-Origin outermost, so that every answer to an allowed origin
    carries it, the catch-all's 500 included."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=CORS_ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    app.add_middleware(TimingAllowOriginMiddleware, origins=origins)


async def problem_response(request: Request, error: Exception) -> Response:
    return failure_response(error, correlation_id=correlation_id_of(request.scope), instance=request.url.path)
