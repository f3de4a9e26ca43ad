"""The BFF's configuration: one typed object, read once from the environment at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from bff.core.deadline import API_GATEWAY_INTEGRATION_LIMIT_MS
from bff.errors import ConfigurationError


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or a fragment")
    return value.rstrip("/")


def _base_path(value: str) -> str:
    if value and (not value.startswith("/") or value.endswith("/") or "//" in value):
        raise ValueError("must be empty, or start with '/' and not end with '/' (e.g. /shop)")
    return value


type BaseUrl = Annotated[str, AfterValidator(_base_url)]
type Milliseconds = Annotated[int, Field(gt=0, le=API_GATEWAY_INTEGRATION_LIMIT_MS)]


class Settings(BaseModel):
    """Service discovery, time budgets and limits. Field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    product_service_url: BaseUrl = Field(alias="PRODUCT_SERVICE_URL")
    review_service_url: BaseUrl = Field(alias="REVIEW_SERVICE_URL")
    inventory_service_url: BaseUrl = Field(alias="INVENTORY_SERVICE_URL")

    page_deadline_ms: Milliseconds = Field(default=500, alias="PAGE_DEADLINE_MS")
    response_reserve_ms: int = Field(default=50, ge=0, le=5_000, alias="RESPONSE_RESERVE_MS")
    product_timeout_ms: Milliseconds = Field(default=450, alias="PRODUCT_TIMEOUT_MS")
    review_timeout_ms: Milliseconds = Field(default=450, alias="REVIEW_TIMEOUT_MS")
    inventory_timeout_ms: Milliseconds = Field(default=450, alias="INVENTORY_TIMEOUT_MS")
    connect_timeout_ms: Milliseconds = Field(default=200, alias="CONNECT_TIMEOUT_MS")

    retry_max_attempts: int = Field(default=3, ge=1, le=10, alias="RETRY_MAX_ATTEMPTS")
    retry_base_delay_ms: Milliseconds = Field(default=20, alias="RETRY_BASE_DELAY_MS")
    retry_max_delay_ms: Milliseconds = Field(default=200, alias="RETRY_MAX_DELAY_MS")
    retry_budget_max_tokens: float = Field(default=10.0, gt=0, alias="RETRY_BUDGET_MAX_TOKENS")
    retry_budget_token_ratio: float = Field(default=0.1, gt=0, alias="RETRY_BUDGET_TOKEN_RATIO")
    breaker_failure_threshold: int = Field(default=5, ge=1, alias="BREAKER_FAILURE_THRESHOLD")
    breaker_window_size: int = Field(default=10, ge=1, alias="BREAKER_WINDOW_SIZE")
    breaker_window_failure_ratio: float = Field(default=0.5, gt=0, le=1, alias="BREAKER_WINDOW_FAILURE_RATIO")
    breaker_open_ms: Milliseconds = Field(default=5_000, alias="BREAKER_OPEN_MS")
    product_hedge_delay_ms: int = Field(default=100, ge=0, le=30_000, alias="PRODUCT_HEDGE_DELAY_MS")
    review_hedge_delay_ms: int = Field(default=100, ge=0, le=30_000, alias="REVIEW_HEDGE_DELAY_MS")
    inventory_hedge_delay_ms: int = Field(default=60, ge=0, le=30_000, alias="INVENTORY_HEDGE_DELAY_MS")
    bulkhead_max_in_flight: int = Field(default=64, ge=1, alias="BULKHEAD_MAX_IN_FLIGHT")
    stale_ttl_s: int = Field(default=300, ge=0, le=86_400, alias="STALE_TTL_S")
    stale_max_entries: int = Field(default=1_000, ge=0, alias="STALE_MAX_ENTRIES")

    downstream_auth: Literal["none", "iam"] = Field(default="none", alias="DOWNSTREAM_AUTH")
    aws_region: str | None = Field(default=None, alias="AWS_REGION")
    cors_allowed_origins: str = Field(default="", alias="CORS_ALLOWED_ORIGINS")
    http_transport: Literal["aiohttp", "httpx"] = Field(default="aiohttp", alias="HTTP_TRANSPORT")
    max_response_bytes: int = Field(default=1024 * 1024, gt=0, alias="MAX_RESPONSE_BYTES")
    max_connections_per_service: int = Field(default=100, gt=0, le=1000, alias="MAX_CONNECTIONS_PER_SERVICE")
    page_cache_max_age_s: int = Field(default=0, ge=0, le=86_400, alias="PAGE_CACHE_MAX_AGE_S")
    # How long clients and CDNs may keep a product's 404 page; 0 sends no-store.
    negative_cache_ttl_s: int = Field(default=30, ge=0, le=3_600, alias="NEGATIVE_CACHE_TTL_S")
    # The custom-domain mapping or REST base path in front of every route, stripped from each request's path.
    api_base_path: Annotated[str, AfterValidator(_base_path)] = Field(default="", alias="API_BASE_PATH")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        try:
            return cls.model_validate(dict(source))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
            )
            raise ConfigurationError(f"invalid BFF configuration: {problems}") from None

    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allowed_origins.split(",") if origin.strip()]

    def hedge_delays_ms(self) -> dict[str, int]:
        """Hedge delay of each downstream service; 0 turns hedging off for that service."""
        return {
            "product": self.product_hedge_delay_ms,
            "reviews": self.review_hedge_delay_ms,
            "inventory": self.inventory_hedge_delay_ms,
        }

    def service_urls(self) -> dict[str, str]:
        """Base URL of each downstream service, by the service name that page sections refer to."""
        return {
            "product": self.product_service_url,
            "reviews": self.review_service_url,
            "inventory": self.inventory_service_url,
        }
