"""The BFF's configuration: one typed object, read once from the environment at cold start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bff.config.locales import LOCALE_TAG_PATTERN, has_locale_data
from bff.config.services import (
    SERVICES,
    SHARED_DEFAULT_VARIABLES,
    VARIABLE_SUFFIXES,
    alias_variable,
    variable,
    variable_names,
)
from bff.core.deadline import API_GATEWAY_INTEGRATION_LIMIT_MS
from bff.errors import ConfigurationError


def valid_base_url(value: str) -> str:
    """The URL without its trailing slash; ValueError unless an absolute http(s) URL with no query or fragment."""
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


def _locale_tags(value: str) -> str:
    tags = value.split(",")
    if any(re.fullmatch(LOCALE_TAG_PATTERN, tag) is None for tag in tags) or len(set(tags)) != len(tags):
        raise ValueError("must be distinct locale tags like en-US, comma-separated without spaces")
    if unknown := [tag for tag in tags if not has_locale_data(tag)]:
        raise ValueError(f"Babel has no locale data (CLDR) to format prices for {', '.join(unknown)}")
    return value


def _registry_path(value: str) -> str:
    if value and (not value.startswith("/") or not value.endswith("/") or "//" in value):
        raise ValueError(
            "must be empty, or an SSM path that starts and ends with '/' (e.g. /product-bff/dev/services/)"
        )
    return value


# The services' URLs while the registry has not been read (Settings.from_env_but_urls); never called.
URL_TO_BE_DISCOVERED = "http://service-url-to-be-discovered.invalid"

type BaseUrl = Annotated[str, AfterValidator(valid_base_url)]
type Milliseconds = Annotated[int, Field(gt=0, le=API_GATEWAY_INTEGRATION_LIMIT_MS)]


def _batch_path(value: str | None) -> str | None:
    if not value:  # an empty {NAME}_BATCH_PATH turns batching off for that service
        return None
    if value is not None and not value.startswith("/"):
        raise ValueError("must start with '/'")
    return value


class ServiceSettings(BaseModel):
    """One downstream service: where it is and how the BFF treats it. Read from `{NAME}_*` (bff.config.services)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: BaseUrl
    timeout_ms: Milliseconds
    hedge_delay_ms: int = Field(ge=0, le=30_000)  # 0 turns hedging off
    max_connections: int = Field(default=100, gt=0, le=1000)
    cache_ttl_s: int = Field(ge=0, le=86_400)  # 0 turns caching off
    batch_path: Annotated[str | None, AfterValidator(_batch_path)] = None
    batch_max_ids: int = Field(default=50, ge=1, le=100)  # ids per batch call (the mocks take up to 100)


class Settings(BaseModel):
    """Service discovery, time budgets and limits. Field aliases are the environment variable names; the
    services' variables follow the naming rule of bff.config.services."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    services: dict[str, ServiceSettings]

    # Service discovery (bff.config.discovery): the SSM path of `{name}/url` parameters; empty reads no SSM.
    service_registry_path: Annotated[str, AfterValidator(_registry_path)] = Field(
        default="", alias="SERVICE_REGISTRY_PATH"
    )
    service_registry_max_age_s: int = Field(default=300, ge=1, le=86_400, alias="SERVICE_REGISTRY_MAX_AGE_S")
    # One SSM call's read timeout (its connect timeout is CONNECT_TIMEOUT_MS); attempts as RETRY_MAX_ATTEMPTS.
    service_registry_timeout_ms: Milliseconds = Field(default=1_000, alias="SERVICE_REGISTRY_TIMEOUT_MS")

    page_deadline_ms: Milliseconds = Field(default=500, alias="PAGE_DEADLINE_MS")
    response_reserve_ms: int = Field(default=50, ge=0, le=5_000, alias="RESPONSE_RESERVE_MS")
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
    # The fleet's shared breaker (bff.resilience.fleet_breaker), on whenever a shared store is configured.
    shared_breaker: Literal["on", "off"] = Field(default="on", alias="SHARED_BREAKER")
    shared_breaker_failures: int = Field(default=8, ge=1, alias="SHARED_BREAKER_FAILURES")
    shared_breaker_burst_failures: int = Field(default=200, ge=1, alias="SHARED_BREAKER_BURST_FAILURES")
    shared_breaker_window_ms: Milliseconds = Field(default=2_000, alias="SHARED_BREAKER_WINDOW_MS")
    shared_breaker_ramp_ms: Milliseconds = Field(default=10_000, alias="SHARED_BREAKER_RAMP_MS")
    shared_breaker_refresh_ms: Milliseconds = Field(default=10_000, ge=1_000, alias="SHARED_BREAKER_REFRESH_MS")
    shared_breaker_timeout_ms: Milliseconds = Field(default=50, alias="SHARED_BREAKER_TIMEOUT_MS")
    bulkhead_max_in_flight: int = Field(default=64, ge=1, alias="BULKHEAD_MAX_IN_FLIGHT")
    stale_ttl_s: int = Field(default=300, ge=0, le=86_400, alias="STALE_TTL_S")
    # The fragment cache: L1 in memory (its size; STALE_MAX_ENTRIES is the older name), and an optional shared L2,
    # a DynamoDB table (CACHE_TABLE_NAME) or Redis/Valkey (CACHE_URL), never both.
    cache_l1_max_entries: int = Field(default=1_000, ge=0, alias="CACHE_L1_MAX_ENTRIES")
    stale_max_entries: int | None = Field(default=None, ge=0, alias="STALE_MAX_ENTRIES")  # read as the line above
    cache_table_name: str = Field(default="", alias="CACHE_TABLE_NAME")
    cache_url: str = Field(default="", alias="CACHE_URL", repr=False)
    cache_l2_timeout_ms: Milliseconds = Field(default=25, alias="CACHE_L2_TIMEOUT_MS")
    cache_l2_write_timeout_ms: Milliseconds = Field(default=50, alias="CACHE_L2_WRITE_TIMEOUT_MS")
    # How long an environment leaves the L2 alone after a timeout, a throttle or an error (0: ask it every time).
    cache_l2_cool_off_ms: int = Field(default=1_000, ge=0, le=60_000, alias="CACHE_L2_COOL_OFF_MS")
    # Per-id calls in flight at once, per section, for a batch against a service without a batch path.
    batch_concurrency: int = Field(default=16, ge=1, le=256, alias="BATCH_CONCURRENCY")

    downstream_auth: Literal["none", "iam"] = Field(default="none", alias="DOWNSTREAM_AUTH")
    aws_region: str | None = Field(default=None, alias="AWS_REGION")
    cors_allowed_origins: str = Field(default="", alias="CORS_ALLOWED_ORIGINS")
    http_transport: Literal["aiohttp", "httpx"] = Field(default="aiohttp", alias="HTTP_TRANSPORT")
    max_response_bytes: int = Field(default=1024 * 1024, gt=0, alias="MAX_RESPONSE_BYTES")
    page_cache_max_age_s: int = Field(default=0, ge=0, le=86_400, alias="PAGE_CACHE_MAX_AGE_S")
    # How long clients and CDNs may keep a product's 404 page; 0 sends no-store.
    negative_cache_ttl_s: int = Field(default=30, ge=0, le=3_600, alias="NEGATIVE_CACHE_TTL_S")
    # Response shaping: availability.lowStock when 0 < stock <= the threshold (0: never); the locales a price is
    # formatted for (the first is the fallback), and the currency of a product whose service names none.
    low_stock_threshold: int = Field(default=5, ge=0, le=1_000_000, alias="LOW_STOCK_THRESHOLD")
    supported_locales: Annotated[str, AfterValidator(_locale_tags)] = Field(
        default="en-US,de-DE,fr-FR,ja-JP", alias="SUPPORTED_LOCALES"
    )
    default_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", alias="DEFAULT_CURRENCY")
    # Powertools idempotency records of cart writes; empty refuses writes (503) rather than risk doing one twice.
    # The template's JwtIssuer: where the OpenAPI document points clients for the shoppers' tokens.
    jwt_issuer: str = Field(default="https://local-issuer.invalid/product-bff", alias="JWT_ISSUER")
    idempotency_table_name: str = Field(default="", alias="IDEMPOTENCY_TABLE_NAME")
    idempotency_expires_after_s: int = Field(default=86_400, ge=1, le=7 * 86_400, alias="IDEMPOTENCY_EXPIRES_AFTER_S")
    # One DynamoDB call's read timeout (its connect timeout is CONNECT_TIMEOUT_MS); retries as RETRY_MAX_ATTEMPTS.
    idempotency_timeout_ms: Milliseconds = Field(default=200, alias="IDEMPOTENCY_TIMEOUT_MS")
    # The custom-domain mapping or REST base path in front of every route, stripped from each request's path.
    api_base_path: Annotated[str, AfterValidator(_base_path)] = Field(default="", alias="API_BASE_PATH")

    @model_validator(mode="before")
    @classmethod
    def _older_cache_size_name(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "STALE_MAX_ENTRIES" not in data:
            return data
        given = {name: data[name] for name in ("CACHE_L1_MAX_ENTRIES", "STALE_MAX_ENTRIES") if name in data}
        if len({str(value) for value in given.values()}) > 1:
            raise ConfigurationError(
                "invalid BFF configuration: CACHE_L1_MAX_ENTRIES and STALE_MAX_ENTRIES are both set and differ; "
                "set only CACHE_L1_MAX_ENTRIES"
            )
        return {**data, "CACHE_L1_MAX_ENTRIES": data["STALE_MAX_ENTRIES"]}

    @model_validator(mode="after")
    def _one_shared_cache(self) -> Settings:
        if self.cache_table_name and self.cache_url:
            raise ConfigurationError("invalid BFF configuration: set CACHE_TABLE_NAME or CACHE_URL, not both")
        if self.cache_url and not self.cache_url.startswith(("redis://", "rediss://")):
            raise ConfigurationError("invalid BFF configuration: CACHE_URL must start with redis:// or rediss://")
        return self

    @model_validator(mode="after")
    def _batch_within_the_bulkhead(self) -> Settings:
        # A batch's per-id calls beyond the bulkhead would be refused as bulkhead_full: degraded items by design.
        if self.batch_concurrency > self.bulkhead_max_in_flight:
            raise ConfigurationError(
                "invalid BFF configuration: BATCH_CONCURRENCY "
                f"({self.batch_concurrency}) exceeds BULKHEAD_MAX_IN_FLIGHT ({self.bulkhead_max_in_flight})"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _services_from_variables(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "services" in data:
            return data
        return {**data, "services": {name: _service_values(name, data) for name in SERVICES}}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        return cls._validated(dict(source), source)

    @classmethod
    def from_env_but_urls(cls, environ: Mapping[str, str]) -> Settings:
        """Every setting but the services' URLs, which the service registry may still give (their stand-in is
        URL_TO_BE_DISCOVERED): checked before the registry is read, so that one bad value is named alone, not
        beside URLs that are not missing."""
        services = {name: {**_service_values(name, environ), "base_url": URL_TO_BE_DISCOVERED} for name in SERVICES}
        return cls._validated({**environ, "services": services}, environ)

    @classmethod
    def _validated(cls, data: dict[str, Any], environ: Mapping[str, str]) -> Settings:
        """ConfigurationError naming each bad variable, one problem after another on one line."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(_problem(item["loc"], item["msg"], environ) for item in error.errors())
            raise ConfigurationError(f"invalid BFF configuration: {problems}") from None

    @classmethod
    def environment_variables(cls) -> list[str]:
        """Every environment variable the settings read."""
        fields = {field.alias for field in cls.model_fields.values() if field.alias}
        return sorted(fields | set(variable_names()))

    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allowed_origins.split(",") if origin.strip()]

    def locales(self) -> list[str]:
        """SUPPORTED_LOCALES in order; the first answers a caller whose Accept-Language matches none."""
        return self.supported_locales.split(",")

    def service_urls(self) -> dict[str, str]:
        """Base URL of each downstream service, by the service name that page sections refer to."""
        return {name: service.base_url for name, service in self.services.items()}


def _service_values(service: str, environ: Mapping[str, Any]) -> dict[str, Any]:
    """One service's fields from its variables, over its declared defaults."""
    defaults = SERVICES[service]
    values: dict[str, Any] = {
        "timeout_ms": defaults.timeout_ms,
        "hedge_delay_ms": defaults.hedge_delay_ms,
        "cache_ttl_s": defaults.cache_ttl_s,
        "batch_path": defaults.batch_path,
        "batch_max_ids": defaults.batch_max_ids,
    }
    for field, shared in SHARED_DEFAULT_VARIABLES.items():
        if shared in environ:
            values[field] = environ[shared]
    for field in VARIABLE_SUFFIXES:
        names = [variable(service, field), alias_variable(service, field)]
        given = {name: environ[name] for name in names if name is not None and name in environ}
        if len({str(value) for value in given.values()}) > 1:
            raise ConfigurationError(
                f"invalid BFF configuration: {' and '.join(given)} are both set and differ; set only {names[0]}"
            )
        if given:
            values[field] = next(iter(given.values()))
    return values


def _problem(loc: tuple[int | str, ...], message: str, environ: Mapping[str, str]) -> str:
    return f"{_variable_of(loc, environ)}: {message.removeprefix('Value error, ')}"


def _variable_of(loc: tuple[int | str, ...], environ: Mapping[str, str]) -> str:
    """The environment variable behind an error's location: a field's alias, or a service variable."""
    if len(loc) >= 3 and loc[0] == "services" and str(loc[2]) in VARIABLE_SUFFIXES:
        service, field = str(loc[1]), str(loc[2])
        primary, alias = variable(service, field), alias_variable(service, field)
        candidates = [primary, alias, SHARED_DEFAULT_VARIABLES.get(field)]
        given = next((name for name in candidates if name is not None and name in environ), None)
        return given or (f"{primary} (or {alias})" if alias else primary)
    return ".".join(str(part) for part in loc)
