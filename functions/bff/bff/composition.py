"""Builds the object graph of one execution environment, and is the only place that does:
settings → outbound HTTP client → downstream client → guards and resilient caller → page service → FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
from aws_lambda_powertools.logging import correlation_paths
from fastapi import FastAPI

from bff.api.app import PageRequest, create_app
from bff.cart_requests import RequestCart
from bff.core.cart import CartService
from bff.core.service import PageService, RenderedPage
from bff.downstream.client import DownstreamClient
from bff.downstream.http import OutboundHttp, create_http_client
from bff.downstream.propagation import downstream_headers
from bff.idempotency import IdempotentWrites
from bff.observability.logging import logger
from bff.observability.metrics import count_responses, record_page
from bff.observability.tracing import tracer
from bff.pages import cart_sections, product_details_page
from bff.resilience.backoff import Backoff
from bff.resilience.caller import ResilientCaller
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.guard import DownstreamGuard, RetryPolicy
from bff.resilience.last_known_good import LastKnownGood
from bff.resilience.retry_budget import RetryBudget
from bff.resilience.writes import WriteCaller
from bff.settings import Settings

type LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def log_breaker_transition(service: str, old: BreakerState, new: BreakerState) -> None:
    logger.warning("circuit breaker state changed", service=service, old_state=old, new_state=new)


def guard_for(service: str, settings: Settings) -> DownstreamGuard:
    hedge_delay_ms = settings.services[service].hedge_delay_ms
    return DownstreamGuard(
        breaker=CircuitBreaker(
            service,
            failure_threshold=settings.breaker_failure_threshold,
            window_size=settings.breaker_window_size,
            window_failure_ratio=settings.breaker_window_failure_ratio,
            open_s=settings.breaker_open_ms / 1000,
            on_transition=log_breaker_transition,
        ),
        budget=RetryBudget(settings.retry_budget_max_tokens, settings.retry_budget_token_ratio),
        bulkhead=asyncio.Semaphore(settings.bulkhead_max_in_flight),
        hedge_delay_s=hedge_delay_ms / 1000 if hedge_delay_ms else None,
    )


@dataclass(frozen=True, slots=True)
class Downstream:
    """One environment's downstream state, shared by every use case: per-service guards (breakers, budgets,
    bulkheads) and the resilient read path."""

    client: DownstreamClient
    guards: dict[str, DownstreamGuard]
    retry_policy: RetryPolicy
    reads: ResilientCaller


def build_downstream(settings: Settings, http_client: OutboundHttp) -> Downstream:
    client = DownstreamClient(http_client, settings.service_urls(), max_response_bytes=settings.max_response_bytes)
    guards = {service: guard_for(service, settings) for service in settings.services}
    retry_policy = RetryPolicy(
        settings.retry_max_attempts,
        Backoff(settings.retry_base_delay_ms / 1000, settings.retry_max_delay_ms / 1000),
    )
    reads = ResilientCaller(
        client.fetch_once, guards, retry_policy, LastKnownGood(settings.stale_ttl_s, settings.stale_max_entries)
    )
    return Downstream(client, guards, retry_policy, reads)


def build_page_service(
    settings: Settings, http_client: OutboundHttp, downstream: Downstream | None = None
) -> PageService:
    shared = downstream or build_downstream(settings, http_client)
    return PageService(
        product_details_page(settings),
        shared.reads,
        deadline_ms=settings.page_deadline_ms,
        reserve_ms=settings.response_reserve_ms,
    )


def build_cart(settings: Settings, downstream: Downstream) -> RequestCart:
    """The cart routes' use case. Cart reads never fall back to a remembered cart (per-user data, and a stale cart
    after a write would lie), cart data has no fragment cache (cart cache_ttl_s is 0), and writes go through the
    write caller, which retries only keyed writes."""
    sections = cart_sections(settings)
    return RequestCart(
        CartService(sections.cart, sections.product),
        sections,
        reads=downstream.reads,
        cart_reads=ResilientCaller(
            downstream.client.fetch_once, downstream.guards, downstream.retry_policy, LastKnownGood(0, 0)
        ),
        writes=WriteCaller(downstream.client.post_once, downstream.guards, downstream.retry_policy),
        idempotent=(
            IdempotentWrites(settings.idempotency_table_name, expires_after_s=settings.idempotency_expires_after_s)
            if settings.idempotency_table_name
            else None
        ),
        deadline_ms=settings.page_deadline_ms,
        reserve_ms=settings.response_reserve_ms,
    )


class RequestPages:
    """The page service as the app calls it. The request's headers become the downstream ones here, so that
    neither edge (api, downstream) imports the other."""

    def __init__(self, service: PageService) -> None:
        self._service = service

    async def render(self, request: PageRequest) -> RenderedPage:
        headers = downstream_headers(request.headers, correlation_id=request.correlation_id, call_trace=request.trace)
        return await self._service.render(
            request.entity_id, lambda_remaining_ms=request.lambda_remaining_ms, headers=headers
        )


def build_app(settings: Settings, http_client: OutboundHttp) -> FastAPI:
    downstream = build_downstream(settings, http_client)
    pages = RequestPages(build_page_service(settings, http_client, downstream))
    return create_app(pages, settings, record_page, build_cart(settings, downstream))


@dataclass(frozen=True, slots=True)
class Composition:
    settings: Settings
    http_client: OutboundHttp
    app: FastAPI


def compose(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Composition:
    """The whole graph; `transport` replaces the network (tests)."""
    http_client = create_http_client(settings, transport)
    return Composition(settings, http_client, build_app(settings, http_client))


def instrument_handler(handler: LambdaHandler) -> LambdaHandler:
    """Logger outermost, so every line carries the Lambda context; then the X-Ray handler subsegment; the response
    count innermost: one document per invocation, from the status the handler answered, whatever it was."""
    wrapped: LambdaHandler = count_responses(handler)
    if tracer is not None:
        wrapped = cast(LambdaHandler, tracer.capture_lambda_handler(wrapped, capture_response=False))
    instrumented: LambdaHandler = logger.inject_lambda_context(
        wrapped, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )
    return instrumented
