"""Exceptions raised inside the BFF.

Exception tree (each root derives from Exception)::

    ConfigurationError            settings missing or invalid at cold start
    UntranslatableEventError      400: an API Gateway event that cannot become an HTTP request (bff.api.events)
    ProblemError                  answered to the client as RFC 9457 problem+json (bff.api.failures)
    ├── InvalidParameterError         400: a request parameter failed validation
    ├── UnauthenticatedError          401: no verified claims, or no subject in them
    ├── ForbiddenError                403: the token lacks the route's scope
    ├── PayloadTooLargeError          413: a body over the route's limit
    ├── UnsupportedMediaTypeError     415: a body that is not JSON
    ├── IdempotencyKeyReusedError     422: an Idempotency-Key sent again with another body
    ├── IdempotencyInProgressError    409: an Idempotency-Key whose first request is still running
    └── IdempotencyUnavailableError   503: idempotency cannot be guaranteed (no table, or the table failed)
    DownstreamError               one downstream call failed; mapped to a section outcome
    ├── DownstreamTimeoutError         no answer within the call's time budget
    ├── DownstreamUnavailableError     refused, reset, or answered 408, 429 or 5xx
    │                                  (retryable when refused, reset, 429, 502, 503 or 504)
    ├── DownstreamNotFoundError        answered 404
    ├── DownstreamRefusedError         answered another 4xx but 408 and 429: the caller's input, not the service
    └── DownstreamBadResponseError     answered 2xx with a body that is not the promised JSON

Downstream errors never reach the client as text: the policy turns them into a status and a body.
"""

from __future__ import annotations

from bff.core.outcomes import FailureReason


class ConfigurationError(Exception):
    """The environment does not describe a runnable BFF."""


class UntranslatableEventError(Exception):
    """The Lambda event is not an API Gateway request that Mangum can translate; the reason is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProblemError(Exception):
    """A request the BFF refuses, with a safe, client-facing detail; bff.api.failures gives its status."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidParameterError(ProblemError):
    """A request parameter failed validation."""


class UnauthenticatedError(ProblemError):
    """The request carries no verified identity (no claims, or no usable `sub`)."""


class ForbiddenError(ProblemError):
    """The identity is known but its token does not grant the route's scope."""

    def __init__(self, detail: str, *, scope: str) -> None:
        super().__init__(detail)
        self.scope = scope


class PayloadTooLargeError(ProblemError):
    """The body is over the route's size limit."""


class UnsupportedMediaTypeError(ProblemError):
    """The body is not of a media type the route takes."""


class IdempotencyKeyReusedError(ProblemError):
    """The Idempotency-Key was used before (by the same user) with another body."""


class IdempotencyInProgressError(ProblemError):
    """The first request with this Idempotency-Key has not finished yet."""


class IdempotencyUnavailableError(ProblemError):
    """The idempotency store is not configured or failed, so a write cannot be made safe to retry; the client may
    retry after `retry_after_s` (the store's breaker's remaining open time, at least 1 s)."""

    def __init__(self, detail: str, *, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class DownstreamError(Exception):
    reason: FailureReason

    def __init__(
        self,
        service: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class DownstreamTimeoutError(DownstreamError):
    reason = FailureReason.TIMEOUT


class DownstreamUnavailableError(DownstreamError):
    reason = FailureReason.UNAVAILABLE


class DownstreamNotFoundError(DownstreamError):
    reason = FailureReason.NOT_FOUND


class DownstreamRefusedError(DownstreamError):
    reason = FailureReason.REFUSED


class DownstreamBadResponseError(DownstreamError):
    reason = FailureReason.BAD_RESPONSE
