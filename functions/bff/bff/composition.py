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
from bff.core.service import PageService, RenderedPage
from bff.core.shaping import Derivation
from bff.discovery import ServiceRegistry
from bff.downstream.client import DownstreamClient
from bff.downstream.http import OutboundHttp, create_http_client
from bff.downstream.propagation import downstream_headers
from bff.locales import format_price
from bff.observability.logging import logger
from bff.observability.metrics import count_responses, record_page
from bff.observability.tracing import tracer
from bff.pages import product_details_page
from bff.resilience.backoff import Backoff
from bff.resilience.caller import ResilientCaller
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.guard import DownstreamGuard, RetryPolicy
from bff.resilience.last_known_good import LastKnownGood
from bff.resilience.retry_budget import RetryBudget
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


def build_page_service(
    settings: Settings, http_client: OutboundHttp, registry: ServiceRegistry | None = None
) -> PageService:
    """`registry` (bff.discovery) gives the services' current URLs and hears of calls that could not connect."""
    client = DownstreamClient(
        http_client,
        registry if registry is not None else settings.service_urls(),
        max_response_bytes=settings.max_response_bytes,
        on_unreachable=registry.service_unreachable if registry is not None else None,
    )
    caller = ResilientCaller(
        client.fetch_once,
        {service: guard_for(service, settings) for service in settings.services},
        RetryPolicy(
            settings.retry_max_attempts,
            Backoff(settings.retry_base_delay_ms / 1000, settings.retry_max_delay_ms / 1000),
        ),
        LastKnownGood(settings.stale_ttl_s, settings.stale_max_entries),
    )
    return PageService(
        product_details_page(settings),
        caller,
        deadline_ms=settings.page_deadline_ms,
        reserve_ms=settings.response_reserve_ms,
        derivation=derivation_for(settings),
    )


def derivation_for(settings: Settings) -> Derivation:
    return Derivation(format_price, settings.default_currency, settings.low_stock_threshold)


class RequestPages:
    """The page service as the app calls it. The request's headers become the downstream ones here, so that
    neither edge (api, downstream) imports the other."""

    def __init__(self, service: PageService) -> None:
        self._service = service

    async def render(self, request: PageRequest) -> RenderedPage:
        headers = downstream_headers(request.headers, correlation_id=request.correlation_id, call_trace=request.trace)
        return await self._service.render(
            request.entity_id, lambda_remaining_ms=request.lambda_remaining_ms, headers=headers, options=request.options
        )


def build_app(settings: Settings, http_client: OutboundHttp, registry: ServiceRegistry | None = None) -> FastAPI:
    service = build_page_service(settings, http_client, registry)
    sections = tuple(section.name for section in product_details_page(settings).sections)
    return create_app(RequestPages(service), settings, record_page, sections)


@dataclass(frozen=True, slots=True)
class Composition:
    settings: Settings
    http_client: OutboundHttp
    app: FastAPI


def compose(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None, registry: ServiceRegistry | None = None
) -> Composition:
    """The whole graph; `transport` replaces the network (tests); `registry` (from bff.discovery.discover) makes
    the services' URLs and the egress allow-list follow a moved service."""
    http_client = create_http_client(settings, transport, registry.origins if registry is not None else None)
    return Composition(settings, http_client, build_app(settings, http_client, registry))


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
