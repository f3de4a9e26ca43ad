"""The FastAPI application: routes, the edge middleware, and problem+json for every error."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response

from bff.api.middleware import EdgeMiddleware, correlation_id_of, trace_of
from bff.api.problems import PROBLEM_MEDIA_TYPE, problem_response
from bff.api.server_timing import SERVER_TIMING_HEADER, server_timing
from bff.api.validation import reject_query_parameters, validate_product_id
from bff.core.models import Problem, ProductDetails
from bff.core.policy import PageAnswer, PageFailure
from bff.core.service import RenderedPage
from bff.downstream.propagation import downstream_headers
from bff.errors import ProblemError
from bff.settings import Settings

# Readable by browser code (devtools show Server-Timing either way) when CORS lets the page's origin in.
EXPOSED_HEADERS = ["server-timing", "x-correlation-id", "retry-after"]

_ERROR_STATUSES = (400, 404, 405, 500, 502, 503, 504)
_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {status: {"model": Problem} for status in _ERROR_STATUSES}


class _RawSegmentConvertor(Convertor[str]):
    """Matches any remainder of the path, newlines and slashes included, so validation sees it whole."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("raw", _RawSegmentConvertor())


class PageRenderer(Protocol):
    async def render(
        self, entity_id: str, *, lambda_remaining_ms: int | None, headers: Mapping[str, str]
    ) -> RenderedPage: ...


type PageRecorder = Callable[[int, Sequence[tuple[str, str]]], None]
"""Counts one page answer: its status and the (section, reason) of each degraded section."""


def create_app(service: PageRenderer, settings: Settings, record_page: PageRecorder) -> FastAPI:
    """The HTTP face of a page service; builds nothing it serves (bff.composition does)."""
    app = FastAPI(title="Product BFF", version="0.1.0", docs_url=None, redoc_url=None)
    app.add_middleware(EdgeMiddleware)
    app.openapi = _problems_as_problem_json(app.openapi)  # type: ignore[method-assign]
    if cors_origins := settings.cors_origins():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET"],
            allow_headers=["x-correlation-id", "traceparent", "tracestate", "accept-language"],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    _register_problem_handlers(app)
    healthy_cache_control = (
        f"public, max-age={settings.page_cache_max_age_s}" if settings.page_cache_max_age_s else "no-cache"
    )

    # ":raw": ids with encoded slashes or CR/LF must reach validation (400), not fall through to a 404.
    @app.get(
        "/product-details/{productId:raw}",
        response_model=ProductDetails,
        responses=_PROBLEM_RESPONSES,
        summary="The product page: product, reviews and stock in one document.",
    )
    async def product_details(request: Request, product_id: Annotated[str, Path(alias="productId")]) -> Response:
        reject_query_parameters(request.url.query)
        rendered = await service.render(
            validate_product_id(product_id),
            lambda_remaining_ms=_lambda_remaining_ms(request),
            headers=downstream_headers(
                request.headers, correlation_id=correlation_id_of(request.scope), call_trace=trace_of(request.scope)
            ),
        )
        decision = rendered.decision
        if isinstance(decision, PageFailure):
            record_page(decision.status, [])
            response = _failure_response(request, decision)
        else:
            record_page(decision.status, decision.degradations)
            response = _answer_response(decision, healthy_cache_control)
        response.headers[SERVER_TIMING_HEADER] = server_timing(rendered.timings_ms)
        return response

    return app


def _problems_as_problem_json(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """The schema as the app answers: errors are application/problem+json, and request validation errors are
    400 problems (FastAPI would document them as 422 JSON)."""

    def openapi() -> dict[str, Any]:
        schema = build()
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                operation["responses"].pop("422", None)
                for status, response in operation["responses"].items():
                    if int(status) >= 400:
                        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        return schema

    return openapi


def _answer_response(answer: PageAnswer, healthy_cache_control: str) -> Response:
    cache_control = "no-store" if answer.degraded else healthy_cache_control
    return JSONResponse(answer.body, status_code=answer.status, headers={"cache-control": cache_control})


def _failure_response(request: Request, failure: PageFailure) -> Response:
    response = problem_response(
        status=failure.status,
        slug=failure.slug,
        title=failure.title,
        detail=failure.detail,
        correlation_id=correlation_id_of(request.scope),
        instance=request.url.path,
    )
    if failure.retry_after_s is not None:
        response.headers["retry-after"] = str(failure.retry_after_s)
    return response


def _lambda_remaining_ms(request: Request) -> int | None:
    context = request.scope.get("aws.context")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return int(remaining()) if callable(remaining) else None


def _register_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, ProblemError)
        return problem_response(
            status=error.status,
            slug=error.slug,
            title=error.title,
            detail=error.detail,
            correlation_id=correlation_id_of(request.scope),
            instance=request.url.path,
        )

    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        response = problem_response(
            status=error.status_code,
            slug=slug,
            detail="No such resource." if error.status_code == 404 else "This request is not supported here.",
            correlation_id=correlation_id_of(request.scope),
            instance=request.url.path,
        )
        response.headers.update(error.headers or {})
        return response

    async def on_invalid_request(request: Request, error: Exception) -> Response:
        return problem_response(
            status=400,
            slug="invalid-request",
            detail="The request does not match this API.",
            correlation_id=correlation_id_of(request.scope),
            instance=request.url.path,
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
