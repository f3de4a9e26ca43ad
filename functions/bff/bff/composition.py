"""Builds the object graph of one execution environment, and is the only place that does:
settings → outbound HTTP client → downstream client → guards and resilient caller → fragment cache → page service →
FastAPI app. The shared cache's client library (aiobotocore, redis) is imported only when one is configured."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from fastapi import FastAPI

from bff.api.app import create_app
from bff.api.deps import Services, provide
from bff.api.middleware import fleet_listener_of
from bff.cache.entry import FragmentStore
from bff.cache.fleet_state import FleetStore
from bff.cache.memory import MemoryStore
from bff.cache.tiered import TieredCache
from bff.config.aws_clients import AwsCallLimits
from bff.config.discovery import ServiceRegistry
from bff.config.locales import format_price, preload_locales
from bff.config.pages import cart_sections, product_details_page
from bff.config.settings import Settings
from bff.core.cart import CartSections, CartService
from bff.core.sections import Page
from bff.core.service import PageService, SectionSource
from bff.core.shaping import Derivation
from bff.downstream.client import DownstreamClient
from bff.downstream.http import OutboundHttp, Transport, create_http_client
from bff.observability.logging import logger
from bff.observability.metrics import OUTSIDE_INVOCATION, RecordedHandler, count_responses
from bff.observability.spans import TracedSections, TracedStore, traced_cache_lookup
from bff.observability.tracing import NO_TRACING, Tracing
from bff.resilience.backoff import Backoff
from bff.resilience.caching import CachePolicy, ReadCache
from bff.resilience.caller import ResilientCaller
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.fleet_breaker import FleetBreakers, FleetPolicy
from bff.resilience.fleet_sync import FleetSyncMiddleware
from bff.resilience.guard import DownstreamGuard, RetryPolicy
from bff.resilience.reads import BatchEndpoint, SectionReads
from bff.resilience.retry_budget import RetryBudget
from bff.resilience.writes import WriteCaller
from bff.writes.cart_requests import RequestCart
from bff.writes.idempotency import STORE_SERVICE, IdempotentWrites, StoreLimits, preload_idempotency

if TYPE_CHECKING:
    from bff.cache.dynamodb import DynamoDbConnection
    from bff.cache.redis import RedisConnection

type LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
type SharedConnection = DynamoDbConnection | RedisConnection


def log_breaker_transition(service: str, old: BreakerState, new: BreakerState) -> None:
    logger.warning("circuit breaker state changed", service=service, old_state=old, new_state=new)


def guard_for(service: str, settings: Settings, fleet: FleetBreakers | None = None) -> DownstreamGuard:
    """The breaker, retry budget and bulkhead of a downstream service, or of the idempotency store (no hedging);
    with `fleet`, the shared breaker state, which the service's local breaker then obeys too."""
    hedge_delay_ms = settings.services[service].hedge_delay_ms if service in settings.services else None
    local = CircuitBreaker(
        service,
        failure_threshold=settings.breaker_failure_threshold,
        window_size=settings.breaker_window_size,
        window_failure_ratio=settings.breaker_window_failure_ratio,
        open_s=settings.breaker_open_ms / 1000,
        on_transition=log_breaker_transition,
    )
    return DownstreamGuard(
        breaker=fleet.breaker(local) if fleet is not None else local,
        budget=RetryBudget(settings.retry_budget_max_tokens, settings.retry_budget_token_ratio),
        bulkhead=asyncio.Semaphore(settings.bulkhead_max_in_flight),
        hedge_delay_s=hedge_delay_ms / 1000 if hedge_delay_ms else None,
    )


def build_fragment_cache(
    settings: Settings, tracing: Tracing = NO_TRACING, connection: SharedConnection | None = None
) -> TieredCache:
    """L1 in memory, over the shared L2 the settings name, if any (each of its calls a span when tracing is on)."""
    l2 = shared_store(settings, connection)
    if l2 is not None and tracing.enabled:
        system, target = (
            ("aws.dynamodb", settings.cache_table_name) if settings.cache_table_name else ("redis", "fragments")
        )
        l2 = TracedStore(l2, tracing, system=system, target=target)
    return TieredCache(MemoryStore(settings.cache_l1_max_entries), l2)


def shared_connection(settings: Settings) -> SharedConnection | None:
    """A client of the shared store the settings name, if any, for the execution environment: the L2 has one and
    the fleet's breaker state another, so that a fleet operation cut off by a response (which drops its connection)
    never costs the next L2 read a reconnect. Its sockets wait at most a page's deadline; botocore and redis-py make
    one attempt; each operation is bounded more tightly by its user."""
    socket_timeout_s = settings.page_deadline_ms / 1000
    # Imported here: the product page's import path stays light when no shared cache is configured.
    if settings.cache_table_name:
        from bff.cache.dynamodb import DynamoDbConnection  # noqa: PLC0415

        return DynamoDbConnection(
            connect_timeout_s=socket_timeout_s, read_timeout_s=socket_timeout_s, region_name=settings.aws_region
        )
    if settings.cache_url:
        from bff.cache.redis import RedisConnection  # noqa: PLC0415

        return RedisConnection(settings.cache_url, connect_timeout_s=socket_timeout_s, read_timeout_s=socket_timeout_s)
    return None


def shared_store(settings: Settings, connection: SharedConnection | None = None) -> FragmentStore | None:
    """The L2 the settings name, if any, over `connection` (by default the environment's shared connection, made
    here). Each call waits at most the L2's timeout, cut to what the request has left."""
    connection = connection or shared_connection(settings)
    get_timeout_s = settings.cache_l2_timeout_ms / 1000
    put_timeout_s = settings.cache_l2_write_timeout_ms / 1000
    cool_off_s = settings.cache_l2_cool_off_ms / 1000
    if settings.cache_table_name:
        from bff.cache.dynamodb import DynamoDbConnection, DynamoDbStore  # noqa: PLC0415

        assert isinstance(connection, DynamoDbConnection)
        return DynamoDbStore(
            settings.cache_table_name,
            connection,
            get_timeout_s=get_timeout_s,
            put_timeout_s=put_timeout_s,
            cool_off_s=cool_off_s,
        )
    if settings.cache_url:
        from bff.cache.redis import RedisConnection, RedisStore  # noqa: PLC0415

        assert isinstance(connection, RedisConnection)
        return RedisStore(
            settings.cache_url,
            connection,
            get_timeout_s=get_timeout_s,
            put_timeout_s=put_timeout_s,
            cool_off_s=cool_off_s,
        )
    return None


def build_fleet(settings: Settings, connection: SharedConnection | None = None) -> FleetBreakers | None:
    """The fleet's shared breaker state, in the shared cache's store over `connection` (by default a client of its
    own, not the L2's: see shared_connection); None when there is none or SHARED_BREAKER=off. Each operation waits
    at most SHARED_BREAKER_TIMEOUT_MS."""
    if settings.shared_breaker == "off":
        return None
    connection = connection or shared_connection(settings)
    timeout_s = settings.shared_breaker_timeout_ms / 1000
    if settings.cache_table_name:
        from bff.cache.dynamodb import DynamoDbConnection  # noqa: PLC0415
        from bff.cache.fleet_dynamodb import DynamoDbFleetStore  # noqa: PLC0415

        assert isinstance(connection, DynamoDbConnection)
        store: FleetStore = DynamoDbFleetStore(settings.cache_table_name, connection, timeout_s=timeout_s)
    elif settings.cache_url:
        from bff.cache.fleet_redis import RedisFleetStore  # noqa: PLC0415
        from bff.cache.redis import RedisConnection  # noqa: PLC0415

        assert isinstance(connection, RedisConnection)
        store = RedisFleetStore(settings.cache_url, connection, timeout_s=timeout_s)
    else:
        return None
    return FleetBreakers(store, fleet_policy(settings), on_transition=OUTSIDE_INVOCATION.record_fleet_transition)


def fleet_policy(settings: Settings) -> FleetPolicy:
    return FleetPolicy(
        failure_threshold=settings.shared_breaker_failures,
        burst_threshold=settings.shared_breaker_burst_failures,
        solo_streak=settings.breaker_failure_threshold,
        window_s=settings.shared_breaker_window_ms / 1000,
        open_s=settings.breaker_open_ms / 1000,
        ramp_s=settings.shared_breaker_ramp_ms / 1000,
        healthy_refresh_s=settings.shared_breaker_refresh_ms / 1000,
        slow_store_s=settings.shared_breaker_timeout_ms / 5000,
    )


def cache_policy(settings: Settings) -> CachePolicy:
    return CachePolicy(
        ttl_s={name: float(service.cache_ttl_s) for name, service in settings.services.items()},
        stale_s=float(settings.stale_ttl_s),
        negative_ttl_s=float(settings.negative_cache_ttl_s),
        write_timeout_s=settings.cache_l2_write_timeout_ms / 1000,
        l2_allowance_s=settings.cache_l2_timeout_ms / 1000,
    )


@dataclass(frozen=True, slots=True)
class Downstream:
    """One environment's downstream state, shared by every use case: per-service guards (breakers, budgets,
    bulkheads), the resilient calls, and the cached reads in front of them: `reads` one call per id (a page),
    `batch_reads` one call per chunk of ids where the service has a batch endpoint (a batch, the cart's products).
    Both share one fragment cache, one caller and so one set of breakers, budgets and bulkheads."""

    client: DownstreamClient
    guards: dict[str, DownstreamGuard]
    retry_policy: RetryPolicy
    calls: ResilientCaller
    reads: SectionReads
    batch_reads: SectionReads


def build_downstream(
    settings: Settings,
    http_client: OutboundHttp,
    cache: TieredCache | None = None,
    registry: ServiceRegistry | None = None,
    tracing: Tracing = NO_TRACING,
    *,
    fleet: FleetBreakers | None = None,
) -> Downstream:
    """`registry` (bff.config.discovery) gives the services' current URLs and hears of calls that could not connect;
    `fleet` is the shared breaker state."""
    client = DownstreamClient(
        http_client,
        registry if registry is not None else settings.service_urls(),
        max_response_bytes=settings.max_response_bytes,
        on_unreachable=registry.service_unreachable if registry is not None else None,
        tracing=tracing,
    )
    guards = {service: guard_for(service, settings, fleet) for service in settings.services}
    retry_policy = RetryPolicy(
        settings.retry_max_attempts,
        Backoff(settings.retry_base_delay_ms / 1000, settings.retry_max_delay_ms / 1000),
    )
    calls = ResilientCaller(client.fetch_once, guards, retry_policy)
    fragments = ReadCache(
        cache if cache is not None else build_fragment_cache(settings, tracing),
        cache_policy(settings),
        on_lookup=traced_cache_lookup if tracing.enabled else None,
    )
    reads = SectionReads(calls, fragments, concurrency=settings.batch_concurrency)
    batch_reads = SectionReads(calls, fragments, batch_endpoints(settings), concurrency=settings.batch_concurrency)
    return Downstream(client, guards, retry_policy, calls, reads, batch_reads)


def build_page_service(
    settings: Settings, page: Page, source: SectionSource, tracing: Tracing = NO_TRACING
) -> PageService:
    """The page pipeline over `source`; with tracing on, each section fetch is a span of its own."""
    return PageService(
        page,
        TracedSections(source, tracing) if tracing.enabled else source,
        deadline_ms=settings.page_deadline_ms,
        reserve_ms=settings.response_reserve_ms,
        derivation=derivation_for(settings),
    )


def batch_endpoints(settings: Settings) -> dict[str, BatchEndpoint]:
    return {
        name: BatchEndpoint(service.batch_path, service.batch_max_ids)
        for name, service in settings.services.items()
        if service.batch_path
    }


def derivation_for(settings: Settings) -> Derivation:
    return Derivation(format_price, settings.default_currency, settings.low_stock_threshold)


def cart_price_formatter(settings: Settings) -> Callable[[int], str]:
    """The cart's prices, through the page's one formatter, in the default currency and the first supported locale
    (the cart routes negotiate no language yet)."""
    locale = settings.supported_locales.split(",")[0]
    return lambda minor_units: format_price(minor_units, settings.default_currency, locale)


def build_cart(
    settings: Settings, sections: CartSections, downstream: Downstream, tracing: Tracing = NO_TRACING
) -> RequestCart:
    """The cart routes' use case. Products come through the pages' reads: one id as a page reads it, the cart's
    products as a batch does (cached ones not fetched, the misses in one call per chunk); the cart itself never
    comes from a cache or a stale copy (per-user data: it is read with the bare resilient calls), and writes go
    through the write caller, which retries only keyed writes."""
    return RequestCart(
        CartService(sections.cart, sections.product, price_formatter=cart_price_formatter(settings)),
        sections,
        reads=downstream.reads,
        batches=downstream.batch_reads,
        cart_reads=downstream.calls,
        writes=WriteCaller(downstream.client.post_once, downstream.guards, downstream.retry_policy),
        idempotent=build_idempotent_writes(settings, downstream.retry_policy, tracing),
        deadline_ms=settings.page_deadline_ms,
        reserve_ms=settings.response_reserve_ms,
    )


def build_idempotent_writes(
    settings: Settings, retry_policy: RetryPolicy, tracing: Tracing = NO_TRACING
) -> IdempotentWrites | None:
    """The idempotency store with explicit timeouts, the HTTP calls' retry policy and a breaker and budget of its
    own; None without a table (writes are then refused)."""
    if not settings.idempotency_table_name:
        return None
    limits = StoreLimits(
        AwsCallLimits(settings.connect_timeout_ms / 1000, settings.idempotency_timeout_ms / 1000), retry_policy
    )
    return IdempotentWrites(
        settings.idempotency_table_name,
        expires_after_s=settings.idempotency_expires_after_s,
        limits=limits,
        guard=guard_for(STORE_SERVICE, settings),
        tracing=tracing,
    )


def build_app(
    settings: Settings,
    http_client: OutboundHttp,
    cache: TieredCache | None = None,
    registry: ServiceRegistry | None = None,
    tracing: Tracing = NO_TRACING,
    *,
    fleet: FleetBreakers | None = None,
) -> FastAPI:
    """The app, with every service its routes call (bff.api.deps), each built once."""
    downstream = build_downstream(settings, http_client, cache, registry, tracing, fleet=fleet)
    page = product_details_page(settings)
    app = create_app(settings)
    provide(
        app,
        Services(
            settings,
            page,
            pages=build_page_service(settings, page, downstream.reads, tracing),
            batches=build_page_service(settings, page, downstream.batch_reads),
            carts=build_cart(settings, cart_sections(settings, page), downstream, tracing),
        ),
    )
    if fleet is not None:
        app.add_middleware(FleetSyncMiddleware, fleet=fleet, listener_of=fleet_listener_of)
    return app


@dataclass(frozen=True, slots=True)
class Composition:
    settings: Settings
    http_client: OutboundHttp
    app: FastAPI
    cache: TieredCache
    tracing: Tracing = NO_TRACING
    fleet: FleetBreakers | None = None

    async def warm(self, timeout_s: float = 2.0) -> bool:
        """Opens the shared cache's client during init, on the loop that will serve (a new client's first call
        takes far longer than a read's timeout), and reads the fleet's breaker state, so that the first call
        already skips a service the fleet has opened. True when there is none, or it answered."""
        warm = getattr(self.cache.l2, "warm", None)
        cache_warmed, fleet_read = await asyncio.gather(
            warm(timeout_s) if warm is not None else _nothing_to_warm(),
            self.fleet.refresh(timeout_s) if self.fleet is not None else _nothing_to_warm(),
        )
        return bool(cache_warmed) and fleet_read

    async def reset(self) -> None:
        """Drops every pooled connection and the shared cache's client, which reopen on first use with the
        credentials of that moment: after a SnapStart restore the sockets are dead and the credentials another's.
        The span exporter's connection goes too (reopened by the next export)."""
        await self.http_client.reset()
        self.tracing.disconnect()
        close = getattr(self.cache.l2, "close", None)
        if close is not None:
            await close()
        if self.fleet is not None:
            await self.fleet.reset()

    def preload(self) -> None:
        """Loads now what a first answer would load (Babel and each locale's data; the idempotency utility when
        writes are on), so that a SnapStart snapshot holds it. Calls no service."""
        preload_locales(self.settings.locales(), self.settings.default_currency)
        if self.settings.idempotency_table_name:
            preload_idempotency()


def compose(
    settings: Settings,
    transport: Transport | None = None,
    registry: ServiceRegistry | None = None,
    tracing: Tracing = NO_TRACING,
) -> Composition:
    """The whole graph; `transport` replaces the network (tests); `registry` (from bff.config.discovery.discover) makes
    the services' URLs and the egress allow-list follow a moved service; `tracing` is the environment's (from
    OpenTelemetry's variables) unless given."""
    http_client = create_http_client(settings, transport, registry.origins if registry is not None else None)
    cache = build_fragment_cache(settings, tracing, shared_connection(settings))
    fleet = build_fleet(settings, shared_connection(settings))
    app = build_app(settings, http_client, cache, registry, tracing, fleet=fleet)
    return Composition(settings, http_client, app, cache, tracing, fleet)


async def _nothing_to_warm() -> bool:
    return True


def instrument_handler(handler: RecordedHandler, tracing: Tracing = NO_TRACING) -> LambdaHandler:
    """Logger outermost, so every line carries the Lambda context (and debug sampling is drawn again for each
    invocation); inside it the invocation's SERVER span, its canonical log line and EMF document, from the status
    the handler answered, whatever it was, and from the record it hands `handler` (bff.handler puts it in the ASGI
    scope); the spans are exported when the answer is ready."""
    wrapped: LambdaHandler = count_responses(handler, tracing)
    instrumented: LambdaHandler = logger.inject_lambda_context(
        wrapped, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )
    return instrumented
