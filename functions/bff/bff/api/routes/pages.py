"""`GET /product-details/{productId}`: the product page, product, reviews and stock in one document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import JSONResponse, Response

from bff.api.deps import RequestContextDep, ServicesDep
from bff.api.failures import failure_response
from bff.api.freshness import not_found_cache_control, page_cache_control
from bff.api.middleware import correlation_id_for_answer
from bff.api.openapi import page_responses
from bff.api.server_timing import SERVER_TIMING_HEADER, server_timing
from bff.api.validation import PRODUCT_ID_PATTERN, page_query_openapi, parse_page_query, validate_product_id
from bff.api.validators import ETAG_HEADER, strong_etag
from bff.core.models import ProductDetails
from bff.core.policy import PageAnswer, PageFailure
from bff.core.recording import SectionReport
from bff.core.service import RenderedPage
from bff.core.shaping import PageOptions

SECTION_NAMES = ("product", "reviews", "inventory")
"""The page's sections, as `include` names them in the OpenAPI document (requests are parsed against the page
declaration's own names)."""
# Only the product section's priceFormatted depends on the caller's language.
LANGUAGE_DEPENDENT_SECTION = "product"


class _RawSegmentConvertor(Convertor[str]):
    """Matches any remainder of the path, newlines and slashes included, so validation sees it whole."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("raw", _RawSegmentConvertor())

router = APIRouter()


# ":raw": ids with encoded slashes or CR/LF must reach validation (400), not fall through to a 404.
@router.get(
    "/product-details/{productId:raw}",
    response_model=ProductDetails,
    responses=page_responses(),
    summary="The product page: product, reviews and stock in one document.",
    openapi_extra={"parameters": page_query_openapi(SECTION_NAMES)},
)
async def product_details(
    request: Request,
    # The pattern is documented, not checked here: validate_product_id refuses with a precise problem.
    product_id: Annotated[str, Path(alias="productId", json_schema_extra={"pattern": f"^{PRODUCT_ID_PATTERN}$"})],
    *,
    context: RequestContextDep,
    services: ServicesDep,
) -> Response:
    settings = services.settings
    product_id = validate_product_id(product_id)
    query = parse_page_query(request.url.query, services.section_names)
    options = PageOptions(query.include, query.reviews_limit, context.locale)
    rendered = await services.pages.render(product_id, context, options)
    context.recorder.record_sections(section_reports(rendered, services.section_services))
    decision = rendered.decision
    response: Response
    if isinstance(decision, PageFailure) and decision.status == 404:
        # A shared cache may keep the 404 page: its body carries the BFF's own id, not the caller's
        cache_control = not_found_cache_control(settings.negative_cache_ttl_s)
        shown_id = correlation_id_for_answer(request.scope, cache_control)
        response = failure_response(decision, correlation_id=shown_id, instance=request.url.path)
        response.headers["cache-control"] = cache_control
    elif isinstance(decision, PageFailure):
        response = failure_response(decision, correlation_id=context.correlation_id, instance=request.url.path)
    else:
        context.recorder.record_degradations(decision.degradations)
        cache_control = page_cache_control(
            rendered.freshness_s, settings.page_cache_max_age_s, degraded=decision.degraded
        )
        response = answer_response(decision, cache_control)
        if LANGUAGE_DEPENDENT_SECTION in decision.body:
            response.headers["vary"] = "Accept-Language"
    response.headers[SERVER_TIMING_HEADER] = server_timing(rendered.timings_ms, rendered.cache)
    return response


def answer_response(answer: PageAnswer, cache_control: str) -> JSONResponse:
    response = JSONResponse(answer.body, status_code=answer.status, headers={"cache-control": cache_control})
    response.headers[ETAG_HEADER] = strong_etag(response.body)
    return response


def section_reports(rendered: RenderedPage, services: Mapping[str, str]) -> dict[str, SectionReport]:
    """Each section of a rendered page as the canonical log line tells it: its service, time, cache and reason."""
    decision = rendered.decision
    if isinstance(decision, PageAnswer):
        reasons = dict(decision.degradations)
    else:
        reasons = {decision.section: str(decision.reason)}
    return {
        name: SectionReport(services.get(name, name), duration_ms, rendered.cache.get(name), reasons.get(name))
        for name, duration_ms in rendered.timings_ms.items()
        if name != "total"
    }
