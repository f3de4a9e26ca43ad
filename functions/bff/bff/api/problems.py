"""RFC 9457 problem+json responses. Only text written here reaches the client; never exception text."""

from __future__ import annotations

from starlette.responses import JSONResponse

from bff.core.models import Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:product-bff:problem:"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    correlation_id: str,
    instance: str | None,
) -> ProblemResponse:
    """Only bff.api.failures calls this: it is where a failure gets its status, slug and title."""
    problem = Problem(
        type=f"{PROBLEM_TYPE_BASE}{slug}",
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        correlation_id=correlation_id,
    )
    return ProblemResponse(
        problem.model_dump(mode="json", by_alias=True, exclude_none=True),
        status_code=status,
        headers={"cache-control": "no-store"},
    )
