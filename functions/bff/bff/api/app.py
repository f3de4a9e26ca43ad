"""The FastAPI application: routes, the edge middleware, and problem+json for every error."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse, Response

from bff.api.batch import BatchRenderer, add_batch_route
from bff.api.cart import CartRequests, register_cart_routes
from bff.api.failures import failure_response
from bff.api.freshness import not_found_cache_control, page_cache_control
from bff.api.middleware import (
    EdgeMiddleware,
    TimingAllowOriginMiddleware,
    correlation_id_for_answer,
    correlation_id_of,
)
from bff.api.openapi import add_openapi_route, complete_document, page_responses
from bff.api.server_timing import SERVER_TIMING_HEADER, server_timing
from bff.api.validation import (
    PRODUCT_ID_PATTERN,
    PageQuery,
    page_query_openapi,
    parse_page_query,
    validate_product_id,
)
from bff.api.validators import ETAG_HEADER, ValidatorMiddleware, strong_etag
from bff.core.models import ProductDetails
from bff.core.policy import PageAnswer, PageFailure
from bff.core.service import RenderedPage
from bff.core.shaping import PageOptions
from bff.errors import ProblemError
from bff.locales import negotiate_locale
from bff.settings import Settings

# Smaller bodies gain little from gzip. Mangum sends a body base64-encoded when it does not decode as UTF-8, and a
# gzip body never does (its second byte, 0x8b, cannot start a UTF-8 character): API Gateway decodes it again.
GZIP_MINIMUM_BYTES = 1024
# zlib's default: close to level 9's ratio on JSON, for less CPU.
GZIP_LEVEL = 6

# Readable by browser code (devtools show Server-Timing either way) when CORS lets the page's origin in.
EXPOSED_HEADERS = ["server-timing", "x-correlation-id", "retry-after", "idempotent-replayed"]


class _RawSegmentConvertor(Convertor[str]):
    """Matches any remainder of the path, newlines and slashes included, so validation sees it whole."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("raw", _RawSegmentConvertor())


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What the app knows of one page request; which of it travels downstream is decided behind the renderer."""

    entity_id: str
    headers: Mapping[str, str]
    correlation_id: str
    lambda_remaining_ms: int | None
    options: PageOptions = field(default_factory=PageOptions)


class PageRenderer(Protocol):
    async def render(self, request: PageRequest) -> RenderedPage: ...


SECTION_NAMES = ("product", "reviews", "inventory")
"""The page's sections, as `include` names them (the composition passes the page declaration's)."""
# Only the product section's priceFormatted depends on the caller's language.
_LANGUAGE_DEPENDENT_SECTION = "product"

type PageRecorder = Callable[[Sequence[tuple[str, str]]], None]
"""Counts a page answer's degradations: the (section, reason) of each degraded or stale section. The response
itself, whatever its status, is counted by the Lambda handler wrapper."""


def create_app(
    service: PageRenderer,
    settings: Settings,
    record_page: PageRecorder,
    sections: Sequence[str] = SECTION_NAMES,
    carts: CartRequests | None = None,
    *,
    batch: BatchRenderer | None = None,
) -> FastAPI:
    """The HTTP face of a page service (and of its batch, when given); builds nothing it serves (bff.composition
    does)."""
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
    app.openapi = complete_document(app.openapi, issuer=settings.jwt_issuer)  # type: ignore[method-assign]
    add_openapi_route(app)
    if cors_origins := settings.cors_origins():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "x-correlation-id",
                "traceparent",
                "tracestate",
                "accept-language",
                "authorization",
                "content-type",
                "idempotency-key",
            ],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
        # Outermost, so that every answer to an allowed origin carries it, the catch-all's 500 included.
        app.add_middleware(TimingAllowOriginMiddleware, origins=cors_origins)
    _register_problem_handlers(app)
    if batch is not None:

        def options_for(query: str, request: Request) -> PageOptions:
            return _page_options(parse_page_query(query, sections), request, settings)

        add_batch_route(
            app,
            batch,
            settings=settings,
            options_for=options_for,
            record_page=record_page,
            page_parameters=page_query_openapi(sections),
        )

    # ":raw": ids with encoded slashes or CR/LF must reach validation (400), not fall through to a 404.
    @app.get(
        "/product-details/{productId:raw}",
        response_model=ProductDetails,
        responses=page_responses(),
        summary="The product page: product, reviews and stock in one document.",
        openapi_extra={"parameters": page_query_openapi(sections)},
    )
    async def product_details(
        request: Request,
        # The pattern is documented, not checked here: validate_product_id refuses with a precise problem.
        product_id: Annotated[str, Path(alias="productId", json_schema_extra={"pattern": f"^{PRODUCT_ID_PATTERN}$"})],
    ) -> Response:
        product_id = validate_product_id(product_id)
        options = _page_options(parse_page_query(request.url.query, sections), request, settings)
        rendered = await service.render(
            PageRequest(
                product_id,
                headers=request.headers,
                correlation_id=correlation_id_of(request.scope),
                lambda_remaining_ms=_lambda_remaining_ms(request),
                options=options,
            )
        )
        decision = rendered.decision
        if isinstance(decision, PageFailure) and decision.status == 404:
            # A shared cache may keep the 404 page: its body carries the BFF's own id, not the caller's
            cache_control = not_found_cache_control(settings.negative_cache_ttl_s)
            shown_id = correlation_id_for_answer(request.scope, cache_control)
            response: Response = failure_response(decision, correlation_id=shown_id, instance=request.url.path)
            response.headers["cache-control"] = cache_control
        elif isinstance(decision, PageFailure):
            response = _failure_response(request, decision)
        else:
            record_page(decision.degradations)
            cache_control = page_cache_control(
                _section_freshness_s(rendered), settings.page_cache_max_age_s, degraded=decision.degraded
            )
            response = _answer_response(decision, cache_control)
            if _LANGUAGE_DEPENDENT_SECTION in decision.body:
                response.headers["vary"] = "Accept-Language"
        response.headers[SERVER_TIMING_HEADER] = server_timing(rendered.timings_ms, rendered.cache)
        return response

    if carts is not None:
        register_cart_routes(app, carts)
    return app


def _page_options(query: PageQuery, request: Request, settings: Settings) -> PageOptions:
    locale = negotiate_locale(request.headers.get("accept-language"), settings.locales())
    return PageOptions(include=query.include, reviews_limit=query.reviews_limit, locale=locale)


def _answer_response(answer: PageAnswer, cache_control: str) -> Response:
    response = JSONResponse(answer.body, status_code=answer.status, headers={"cache-control": cache_control})
    response.headers[ETAG_HEADER] = strong_etag(response.body)
    return response


def _section_freshness_s(rendered: RenderedPage) -> Sequence[float | None]:
    """The remaining freshness of each section of the page, as the fragment cache reported it (None: the section
    declares none, and PAGE_CACHE_MAX_AGE_S alone bounds it)."""
    return rendered.freshness_s


def _lambda_remaining_ms(request: Request) -> int | None:
    context = request.scope.get("aws.context")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return int(remaining()) if callable(remaining) else None


def _register_problem_handlers(app: FastAPI) -> None:
    async def on_failure(request: Request, error: Exception) -> Response:
        return _failure_response(request, error)

    for failure in (ProblemError, HTTPException, RequestValidationError):
        app.add_exception_handler(failure, on_failure)


def _failure_response(request: Request, failure: object) -> Response:
    return failure_response(failure, correlation_id=correlation_id_of(request.scope), instance=request.url.path)
