"""The one map from a failure to its answer: status, problem type (slug), title and the client-facing detail.

Every problem+json response of the BFF is made by `failure_response`: a page the policy could not serve, a
refused request, a route or method that does not exist, a request FastAPI could not parse, and the catch-all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from bff.api.problems import ProblemResponse, problem_response
from bff.core.outcomes import FailureReason
from bff.core.policy import PageFailure
from bff.errors import (
    ForbiddenError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyUnavailableError,
    InvalidParameterError,
    PayloadTooLargeError,
    ProblemError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
    UntranslatableEventError,
)

# Seconds a client should wait before retrying a write whose key is still in use, or an unavailable store.
IDEMPOTENCY_RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class ProblemAnswer:
    status: int
    slug: str
    title: str
    detail: str
    headers: Mapping[str, str] = field(default_factory=dict)


def problem_for(failure: object) -> ProblemAnswer:  # noqa: PLR0911, PLR0912 - one case per kind of failure
    """Anything not named here is an internal error, described by nothing of its own."""
    match failure:
        case PageFailure():
            return _page_failure(failure)
        case UntranslatableEventError():
            return ProblemAnswer(400, "untranslatable-event", "Bad Request", "The request could not be read.")
        case UnauthenticatedError(detail=detail):
            return ProblemAnswer(401, "unauthenticated", "Unauthorized", detail, {"www-authenticate": "Bearer"})
        case ForbiddenError(detail=detail, scope=scope):
            challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
            return ProblemAnswer(403, "insufficient-scope", "Forbidden", detail, {"www-authenticate": challenge})
        case PayloadTooLargeError(detail=detail):
            return ProblemAnswer(413, "payload-too-large", "Content Too Large", detail)
        case UnsupportedMediaTypeError(detail=detail):
            return ProblemAnswer(415, "unsupported-media-type", "Unsupported Media Type", detail)
        case IdempotencyKeyReusedError(detail=detail):
            return ProblemAnswer(422, "idempotency-key-reused", "Unprocessable Content", detail)
        case IdempotencyInProgressError(detail=detail):
            retry = {"retry-after": str(IDEMPOTENCY_RETRY_AFTER_S)}
            return ProblemAnswer(409, "idempotency-key-in-use", "Conflict", detail, retry)
        case IdempotencyUnavailableError(detail=detail, retry_after_s=retry_after_s):
            retry = {"retry-after": str(retry_after_s)}
            return ProblemAnswer(503, "idempotency-unavailable", "Service unavailable", detail, retry)
        case InvalidParameterError(detail=detail):
            return ProblemAnswer(400, "invalid-parameter", "Invalid request parameter", detail)
        case ProblemError(detail=detail):
            return ProblemAnswer(400, "invalid-request", "Bad Request", detail)
        case RequestValidationError():
            return ProblemAnswer(400, "invalid-request", "Bad Request", "The request does not match this API.")
        case HTTPException():
            return _routing_failure(failure)
        case _:
            return ProblemAnswer(500, "internal-error", "Internal Server Error", "The request could not be completed.")


def failure_response(failure: object, *, correlation_id: str, instance: str | None) -> ProblemResponse:
    answer = problem_for(failure)
    response = problem_response(
        status=answer.status,
        slug=answer.slug,
        title=answer.title,
        detail=answer.detail,
        correlation_id=correlation_id,
        instance=instance,
    )
    response.headers.update(answer.headers)
    return response


def _page_failure(failure: PageFailure) -> ProblemAnswer:
    name = failure.section
    match failure.status:
        case 422 if failure.reason is FailureReason.REFUSED:
            return ProblemAnswer(
                422, f"{name}-refused", "Unprocessable Content", f"The {name} service refused this request."
            )
        case 422:
            return ProblemAnswer(422, f"unknown-{name}", "Unprocessable Content", f"No {name} has this id.")
        case 404:
            return ProblemAnswer(404, f"{name}-not-found", "Not found", f"No {name} has this id.")
        case 504:
            return ProblemAnswer(
                504, "upstream-timeout", "Gateway timeout", f"The {name} service did not answer in time."
            )
        case 503:
            detail = f"The {name} service is temporarily unavailable; retry later."
            headers = {} if failure.retry_after_s is None else {"retry-after": str(failure.retry_after_s)}
            return ProblemAnswer(503, "upstream-unavailable", "Service unavailable", detail, headers)
        case _:
            return ProblemAnswer(502, "upstream-failure", "Bad gateway", f"The {name} service failed to answer.")


def _routing_failure(error: HTTPException) -> ProblemAnswer:
    """Starlette's own answers: no such route (404), or a method the route does not take (405, with Allow)."""
    status = error.status_code
    slug = {404: "not-found", 405: "method-not-allowed"}.get(status, "http-error")
    detail = "No such resource." if status == 404 else "This request is not supported here."
    return ProblemAnswer(status, slug, HTTPStatus(status).phrase, detail, dict(error.headers or {}))
