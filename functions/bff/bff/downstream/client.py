"""The outbound edge: one GET to a downstream service, classified into a section outcome.

Everything that can go wrong on the wire ends here as a DownstreamError and leaves as a Failed outcome;
nothing downstream-specific (URLs, exception text, bodies) travels further.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

import httpx
from pydantic import ValidationError

from bff.core.context import RequestContext
from bff.core.encoding import percent_encoded
from bff.core.outcomes import Failed, Fetched, JsonValue
from bff.core.recording import DownstreamCall
from bff.core.sections import Section
from bff.downstream.http import OutboundHttp
from bff.downstream.reply import Reply
from bff.errors import (
    DownstreamBadResponseError,
    DownstreamError,
    DownstreamNotFoundError,
    DownstreamRefusedError,
    DownstreamTimeoutError,
    DownstreamUnavailableError,
)
from bff.observability.tracing import NO_TRACING, Tracing
from bff.resilience.caller import is_hedge

TIME_BUDGET_HEADER = "x-request-timeout-ms"
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# 4xx answers that still say something about the service's health: it timed out (408) or is overloaded (429).
_SERVICE_SIDE_CLIENT_ERRORS = frozenset({408, 429})
# A write is retried (and only when it carries an Idempotency-Key) on refused or reset connections and on 503,
# which says the request was not processed; a 502, 504 or 429 may come after the write happened.
RETRYABLE_WRITE_STATUSES = frozenset({503})
# Connection-level failures where the request cannot have been processed, or is safe to repeat (GET).
_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.ConnectError,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)


class DownstreamClient:
    def __init__(
        self,
        http: OutboundHttp,
        service_urls: Mapping[str, str],
        *,
        max_response_bytes: int,
        on_unreachable: Callable[[str], None] | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        """`service_urls` is read at each call, so a registry that heals a moved service is followed;
        `on_unreachable(service)` hears of each call that could not connect (refused, DNS: nothing was sent);
        each attempt is a CLIENT span of `tracing`, and carries that span's traceparent."""
        self._http = http
        self._tracing = tracing
        self._service_urls = service_urls
        self._max_response_bytes = max_response_bytes
        self._on_unreachable = on_unreachable

    def url_for(self, section: Section, entity_id: str) -> str:
        return self._service_urls[section.service] + section.path_for(encode_path_segment(entity_id))

    async def fetch_once(
        self, section: Section, entity_id: str, timeout_s: float, context: RequestContext, attempt: int = 1
    ) -> Failed | Fetched:
        """One attempt, traced as its own span and recorded by the request's recorder (its canonical line)."""
        url = self.url_for(section, entity_id)
        return await self._observed(section, url, timeout_s, context, attempt=attempt, body=None)

    async def post_once(  # noqa: PLR0917 - positional, as the write caller's WriteAttempt calls it
        self, section: Section, entity_id: str, body: bytes, timeout_s: float, context: RequestContext, attempt: int
    ) -> Failed | Fetched:
        """One POST of a JSON body to the section's path; its answer is parsed with the section's shape.
        `retryable` on the outcome says whether the write may be sent again (with its Idempotency-Key)."""
        url = self.url_for(section, entity_id)
        return await self._observed(section, url, timeout_s, context, attempt=attempt, body=body)

    async def _observed(
        self,
        section: Section,
        url: str,
        timeout_s: float,
        context: RequestContext,
        *,
        attempt: int,
        body: bytes | None,
    ) -> Failed | Fetched:
        started = time.perf_counter()
        method = "GET" if body is None else "POST"
        try:
            with self._tracing.client(section.service, method, url, attempt=attempt, hedge=is_hedge()) as span:
                call_headers = dict(context.headers)
                span.inject(call_headers)
                status, outcome = await self._classified(
                    section, url, timeout_s, call_headers, started=started, write=body
                )
                span.set("http.response.status_code", status)
                if isinstance(outcome, Failed):
                    span.fail(outcome.reason.value)
        except asyncio.CancelledError:
            context.recorder.record_call(
                DownstreamCall(section.service, "cancelled", _elapsed_ms(started), None, attempt)
            )
            raise
        context.recorder.record_call(
            DownstreamCall(section.service, _label(outcome), outcome.duration_ms, status, attempt)
        )
        return outcome

    async def _classified(
        self,
        section: Section,
        url: str,
        timeout_s: float,
        headers: Mapping[str, str],
        *,
        started: float,
        write: bytes | None,
    ) -> tuple[int | None, Failed | Fetched]:
        try:
            async with asyncio.timeout(timeout_s):
                status, body, cache_control = await self._exchange(section, url, timeout_s, headers, write)
            value = _parse(section, body)
        except TimeoutError:
            return None, Failed(DownstreamTimeoutError.reason, _elapsed_ms(started))
        except DownstreamError as error:
            failed = Failed(error.reason, _elapsed_ms(started), error.retryable, error.retry_after_s)
            return error.status, failed
        return status, Fetched(value, _elapsed_ms(started), cache_control=cache_control)

    async def _exchange(
        self, section: Section, url: str, timeout_s: float, headers: Mapping[str, str], write: bytes | None
    ) -> tuple[int, bytes, str | None]:
        """Status, body and Cache-Control (the fragment cache honours it) of a GET, or of a POST of `write`."""
        # The time left travels downstream so that a service (or another BFF) can stop working for us in time.
        headers = {**headers, TIME_BUDGET_HEADER: str(max(int(timeout_s * 1000), 1))}
        retryable_statuses = RETRYABLE_STATUSES if write is None else RETRYABLE_WRITE_STATUSES
        try:
            if write is None:
                reply = await self._http.get(
                    url, headers, timeout_s, service=section.service, max_body_bytes=self._max_response_bytes
                )
            else:
                reply = await self._http.post(
                    url, headers, write, timeout_s, service=section.service, max_body_bytes=self._max_response_bytes
                )
        except httpx.TimeoutException:
            raise DownstreamTimeoutError(section.service, "timed out") from None
        except httpx.TransportError as error:
            if isinstance(error, httpx.ConnectError) and self._on_unreachable is not None:
                self._on_unreachable(section.service)
            retryable = isinstance(error, _RETRYABLE_TRANSPORT_ERRORS)
            raise DownstreamUnavailableError(section.service, type(error).__name__, retryable=retryable) from None
        _raise_for_status(section, reply, retryable_statuses)
        return reply.status_code, reply.body, reply.headers.get("cache-control")


def encode_path_segment(value: str) -> str:
    """Percent-encode one path segment. "." and ".." are refused: clients resolve them as dot-segments even
    when encoded, which would send the call to another path of the service."""
    if value in {".", ".."}:
        raise ValueError("a dot-segment cannot be used as a path segment")
    return percent_encoded(value)


def _raise_for_status(section: Section, response: Reply, retryable_statuses: frozenset[int]) -> None:
    if response.status_code == 404:
        raise DownstreamNotFoundError(section.service, "404", status=404)
    if 400 <= response.status_code < 500 and response.status_code not in _SERVICE_SIDE_CLIENT_ERRORS:
        # The request as the caller made it was refused: never counted against the service (breaker, budget).
        raise DownstreamRefusedError(section.service, f"status {response.status_code}", status=response.status_code)
    if not response.is_success:
        raise DownstreamUnavailableError(
            section.service,
            f"status {response.status_code}",
            status=response.status_code,
            retryable=response.status_code in retryable_statuses,
            retry_after_s=retry_after_s(response.headers.get("retry-after")),
        )


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP-date (RFC 9110, 10.2.3)."""
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _parse(section: Section, body: bytes) -> JsonValue:
    try:
        model = section.shape.validate_json(body)
    except ValidationError:
        raise DownstreamBadResponseError(section.service, "body is not the promised JSON") from None
    dumped: JsonValue = section.shape.dump_python(model, mode="json", by_alias=True)
    return dumped


def _label(outcome: Failed | Fetched) -> str:
    return "fetched" if isinstance(outcome, Fetched) else outcome.reason.value


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
