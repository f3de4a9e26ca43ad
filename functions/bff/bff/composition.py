"""Builds the object graph of one execution environment from the settings: the only place that wires."""

from __future__ import annotations

import asyncio

from bff.downstream import DownstreamClient
from bff.http_client import OutboundHttp
from bff.observability import logger
from bff.pages import product_details_page
from bff.resilience.backoff import Backoff
from bff.resilience.caller import ResilientCaller
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.guard import DownstreamGuard, RetryPolicy
from bff.resilience.last_known_good import LastKnownGood
from bff.resilience.retry_budget import RetryBudget
from bff.service import PageService
from bff.settings import Settings


def log_breaker_transition(service: str, old: BreakerState, new: BreakerState) -> None:
    logger.warning("circuit breaker state changed", service=service, old_state=old, new_state=new)


def guard_for(service: str, settings: Settings) -> DownstreamGuard:
    hedge_delay_ms = settings.hedge_delays_ms()[service]
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


def build_page_service(settings: Settings, http_client: OutboundHttp) -> PageService:
    client = DownstreamClient(http_client, settings.service_urls(), max_response_bytes=settings.max_response_bytes)
    caller = ResilientCaller(
        client.fetch_once,
        {service: guard_for(service, settings) for service in settings.service_urls()},
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
    )
