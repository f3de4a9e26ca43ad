"""ASGI middleware at the client edge: correlation id, common headers, the last-resort catch-all, and
Timing-Allow-Origin for the CORS origins.

The caller's X-Correlation-Id (when well formed) ties the logs and downstream calls together and comes back on
answers meant for that caller alone. An answer that a shared cache may keep and serve to others (e.g. the 404 page,
`public, max-age=30`) carries nothing taken from the request: its X-Correlation-Id header, and the correlationId of
its problem body, are the BFF's own request id (API Gateway's, else a fresh one), which the logs carry as
`request_id` beside the correlation id.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.api.failures import failure_response
from bff.api.freshness import shared_cache_may_reuse
from bff.core.recording import Recorder
from bff.observability.correlation import CORRELATION_HEADER, correlation_id_for, own_request_id
from bff.observability.logging import bind_request, logger
from bff.observability.metrics import OUTSIDE_INVOCATION

_STATE_KEY = "correlation_id"
_OWN_ID_KEY = "own_request_id"
RECORDER_SCOPE_KEY = "bff.recorder"
"""Where the handler puts the invocation's recorder in the ASGI scope (bff.handler)."""
_ALWAYS = ((b"x-content-type-options", b"nosniff"),)


def correlation_id_of(scope: MutableMapping[str, Any]) -> str:
    correlation_id: str = scope["state"][_STATE_KEY]
    return correlation_id


def recorder_of(scope: MutableMapping[str, Any]) -> Recorder:
    """The invocation's recorder, which the handler put in the scope; an app served without the handler (uvicorn,
    a test's ASGI client) records as code outside an invocation does (bff.observability.metrics)."""
    recorder: Recorder = scope.get(RECORDER_SCOPE_KEY, OUTSIDE_INVOCATION)
    return recorder


def fleet_listener_of(scope: MutableMapping[str, Any]) -> Callable[[str, str, str], None]:
    """Who hears a change of the fleet's breaker state learnt during a request: the request's recorder, which counts
    it in the request's one line (bff.resilience.fleet_sync asks for it at each request's start)."""
    return recorder_of(scope).record_fleet_transition


def correlation_id_for_answer(scope: MutableMapping[str, Any], cache_control: str | None) -> str:
    """The id an answer with this Cache-Control carries: the BFF's own when a shared cache may reuse the answer
    for others, else the caller's correlation id."""
    own_id: str = scope["state"][_OWN_ID_KEY]
    return own_id if shared_cache_may_reuse(cache_control) else correlation_id_of(scope)


class EdgeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        own_id = own_request_id(scope.get("aws.event"))
        correlation_id = correlation_id_for(headers, scope.get("aws.event"), own_id)
        scope.setdefault("state", {}).update({_STATE_KEY: correlation_id, _OWN_ID_KEY: own_id})
        bind_request(correlation_id, own_id)
        response_started = False

        async def send_with_edge_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                cache_control = Headers(raw=message.get("headers", [])).get("cache-control")
                shown = own_id if shared_cache_may_reuse(cache_control) else correlation_id
                message["headers"] = [
                    *message.get("headers", []),
                    (CORRELATION_HEADER.encode(), shown.encode()),
                    *_ALWAYS,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_edge_headers)
        except Exception as error:
            note_route(scope)
            logger.exception("unhandled error", extra={"correlation_id": correlation_id})
            if response_started:
                raise
            response = failure_response(error, correlation_id=correlation_id, instance=scope.get("path"))
            await response(scope, receive, send_with_edge_headers)
        else:
            note_route(scope)


def note_route(scope: Scope) -> None:
    """The matched route's template (`/product-details/{productId}`), noted for the canonical log line."""
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str):
        recorder_of(scope).note_route(template)


class TimingAllowOriginMiddleware:
    """`Timing-Allow-Origin` for the allowed CORS origins, so that a page on one of them reads Server-Timing
    through the Performance API (devtools show it either way)."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.allow_any = "*" in origins
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = Headers(scope=scope).get("origin") if scope["type"] == "http" else None
        if origin is None or not (self.allow_any or origin in self.origins):
            await self.app(scope, receive, send)
            return

        async def send_with_timing_allowed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["timing-allow-origin"] = origin
                if "origin" not in {part.strip().lower() for part in headers.get("vary", "").split(",")}:
                    headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_timing_allowed)
