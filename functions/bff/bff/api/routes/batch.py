"""`GET /product-details?ids=P001,P002,…`: up to 50 product pages in one answer (rules: bff.api.batch)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from bff.api.batch import BATCH_PATH, BATCH_QUERY_OPENAPI, batch_degradations, batch_response, split_batch_query
from bff.api.deps import RequestContextDep, ServicesDep
from bff.api.middleware import correlation_id_for_answer
from bff.api.openapi import batch_responses
from bff.api.routes.pages import SECTION_NAMES
from bff.api.validation import page_query_openapi, parse_page_query
from bff.core.models import BatchDetails
from bff.core.recording import SectionReport
from bff.core.shaping import PageOptions

router = APIRouter()


@router.get(
    BATCH_PATH,
    response_model=BatchDetails,
    responses=batch_responses(),
    summary="Up to 50 product pages in one answer, each with its own status.",
    openapi_extra={"parameters": [*BATCH_QUERY_OPENAPI, *page_query_openapi(SECTION_NAMES)]},
)
async def product_details_batch(request: Request, context: RequestContextDep, services: ServicesDep) -> Response:
    entity_ids, rest = split_batch_query(request.url.query)
    query = parse_page_query(rest, services.section_names)
    options = PageOptions(query.include, query.reviews_limit, context.locale)
    rendered = await services.batches.render_many(entity_ids, context, options)
    # The canonical line tells each section's whole batch fetch (its time across every id).
    context.recorder.record_sections(
        {
            name: SectionReport(services.section_services.get(name, name), duration_ms)
            for name, duration_ms in rendered.timings_ms.items()
            if name != "total"
        }
    )
    context.recorder.record_degradations(batch_degradations(rendered))
    return batch_response(
        rendered, services.settings, correlation_id_for=lambda cc: correlation_id_for_answer(request.scope, cc)
    )
