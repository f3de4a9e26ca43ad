"""Service discovery: where each downstream service is, read once at cold start and healed when one moves.

Precedence for each service: its explicit `{NAME}_SERVICE_URL` variable (or the variable's older alias), then the
SSM Parameter Store path in SERVICE_REGISTRY_PATH (`{path}{name}/url`), then a ConfigurationError at cold start
that names the service and both places looked. An empty SERVICE_REGISTRY_PATH reads no SSM at all.

The path is read with ONE GetParametersByPath (Powertools Parameters, cached for SERVICE_REGISTRY_MAX_AGE_S). A
connection refused or a DNS failure (httpx.ConnectError: nothing was sent) for a discovered service forces one
re-read, at most once per max age per service, so SSM's 40 TPS never limits us: the number of calls depends on the
number of environments, not on the traffic. The re-read runs in a worker thread, never on the event loop, and
applies to later calls; the call that failed degrades as it always did.

Deadlines. Every SSM call has explicit connect (CONNECT_TIMEOUT_MS) and read (SERVICE_REGISTRY_TIMEOUT_MS)
timeouts and no retries of botocore's own. The cold-start read is tried RETRY_MAX_ATTEMPTS times with the HTTP
calls' backoff, so an SSM that refuses, hangs, throttles or answers garbage stops the cold start within
attempts x (connect + read) + the backoff, naming the registry; a background re-read is tried once.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bff.config.aws_clients import AwsCallLimits, bounded_client
from bff.config.services import SERVICES, alias_variable, lookalike_settings, variable
from bff.config.settings import Settings, valid_base_url
from bff.downstream.egress import allowed_hosts_for
from bff.errors import ConfigurationError
from bff.observability.logging import logger
from bff.observability.tracing import NO_TRACING, Tracing
from bff.resilience.backoff import Backoff

URL_PARAMETER = "url"
_URL_VARIABLES = frozenset(
    name
    for service in SERVICES
    for name in (variable(service, "base_url"), alias_variable(service, "base_url"))
    if name
)


class RegistrySource(Protocol):
    """Reads the registry's path: parameter names relative to the path (`product/url`) and their values."""

    def read(self, *, force: bool) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class RegistryLimits:
    """One SSM call's timeouts, and how often the cold-start read is tried."""

    call: AwsCallLimits = field(default_factory=lambda: AwsCallLimits(0.2, 1.0))
    attempts: int = 3
    backoff: Backoff = field(default_factory=lambda: Backoff(0.02, 0.2))

    @classmethod
    def of(cls, settings: Settings) -> RegistryLimits:
        return cls(
            AwsCallLimits(settings.connect_timeout_ms / 1000, settings.service_registry_timeout_ms / 1000),
            settings.retry_max_attempts,
            Backoff(settings.retry_base_delay_ms / 1000, settings.retry_max_delay_ms / 1000),
        )


class SsmRegistrySource:
    """The registry in SSM Parameter Store, through Powertools Parameters; botocore's AWS_ENDPOINT_URL_SSM points
    it at a local endpoint (moto in `make dev`)."""

    def __init__(
        self,
        path: str,
        max_age_s: int,
        provider: Any | None = None,
        *,
        limits: RegistryLimits | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._path = path
        self._max_age_s = max_age_s
        self._provider = provider
        self._limits = limits or RegistryLimits()
        self._tracing = tracing

    def read(self, *, force: bool) -> Mapping[str, str]:
        if self._provider is None:
            # Imported here: boto3 costs cold-start time that a BFF without a registry should not pay.
            from aws_lambda_powertools.utilities.parameters import SSMProvider  # noqa: PLC0415

            self._provider = SSMProvider(boto3_client=bounded_client("ssm", self._limits.call, self._tracing))
        values = self._provider.get_multiple(self._path, max_age=self._max_age_s, recursive=True, force_fetch=force)
        return {str(name): str(value) for name, value in values.items()}


def service_urls_in(parameters: Mapping[str, str]) -> dict[str, str]:
    """The known services' URLs among the path's parameters (`{name}/url`); others are ignored."""
    return {name: value for name in SERVICES if (value := parameters.get(f"{name}/{URL_PARAMETER}"))}


class ServiceRegistry(Mapping[str, str]):
    """Each service's current base URL, as a read-only mapping that later calls read live. Explicit URLs never
    change; discovered ones are replaced when a forced re-read finds them elsewhere."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        source: RegistrySource | None = None,
        explicit: frozenset[str] = frozenset(),
        max_age_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._urls = dict(urls)
        self._origins = allowed_hosts_for(self._urls.values())
        self._source = source
        self._explicit = explicit
        self._max_age_s = max_age_s
        self._clock = clock
        self._last_refresh: dict[str, float] = {}
        self._in_flight: asyncio.Task[None] | None = None

    def __getitem__(self, service: str) -> str:
        return self._urls[service]

    def __iter__(self) -> Iterator[str]:
        return iter(self._urls)

    def __len__(self) -> int:
        return len(self._urls)

    def origins(self) -> frozenset[str]:
        """The origins of the current URLs: the egress allow-list, which follows a moved service."""
        return self._origins

    def service_unreachable(self, service: str) -> None:
        """A connection to `service` could not be made: re-read the registry in the background, unless the service
        is explicit, a re-read is already running, or this service triggered one within the max age."""
        if self._source is None or service in self._explicit or service not in self._urls:
            return
        now = self._clock()
        last = self._last_refresh.get(service)
        if last is not None and now - last < self._max_age_s:
            return
        self._last_refresh[service] = now
        if self._in_flight is None or self._in_flight.done():
            self._in_flight = asyncio.get_running_loop().create_task(self.refresh(), name="service registry refresh")

    async def refresh(self) -> None:
        """One forced read of the registry in a worker thread; failures are logged and the URLs kept."""
        assert self._source is not None
        try:
            parameters = await asyncio.to_thread(self._source.read, force=True)
        except Exception:  # a registry outage must never fail a page
            logger.warning("service registry refresh failed; keeping the known URLs", exc_info=True)
            return
        self.apply(service_urls_in(parameters))

    def apply(self, discovered: Mapping[str, str]) -> None:
        changed = {}
        for service, url in discovered.items():
            if service in self._explicit or service not in self._urls:
                continue
            try:
                valid = valid_base_url(url)
            except ValueError:
                logger.warning("service registry holds an invalid URL; ignored", service=service)
                continue
            if valid != self._urls[service]:
                changed[service] = valid
        if changed:
            self._urls.update(changed)
            self._origins = allowed_hosts_for(self._urls.values())
            logger.info("service registry: services moved", services=sorted(changed))


def explicit_services(environ: Mapping[str, str]) -> frozenset[str]:
    """Services whose URL variable (or its alias) is set."""
    return frozenset(
        name
        for name in SERVICES
        if any(n in environ for n in (variable(name, "base_url"), alias_variable(name, "base_url")) if n is not None)
    )


def discover(
    environ: Mapping[str, str] | None = None,
    source_for: Callable[[str, int], RegistrySource] | None = None,
    tracing: Tracing = NO_TRACING,
) -> tuple[Settings, ServiceRegistry]:
    """The settings, with each service's URL from its variable or the registry, and the registry that keeps them
    (its SSM calls are CLIENT spans of `tracing` when tracing is on)."""
    # A blank URL variable is no URL: a template passes "" for a URL parameter left empty (and SAM's local
    # environment for an intrinsic it cannot resolve), and that must leave the service to the registry.
    given = {
        name: value
        for name, value in (os.environ if environ is None else environ).items()
        if value.strip() or name not in _URL_VARIABLES
    }
    registry_settings = _registry_settings(given)
    path, max_age_s = registry_settings.service_registry_path, registry_settings.service_registry_max_age_s
    for name, closest in lookalike_settings(given, Settings.environment_variables()).items():
        logger.warning(f"{name} is not a setting and is ignored; did you mean {closest}?", variable=name)
    explicit = explicit_services(given)
    if not path or explicit == frozenset(SERVICES):
        settings = Settings.from_env(given)
        return settings, ServiceRegistry(settings.service_urls(), explicit=explicit)
    limits = RegistryLimits.of(registry_settings)
    source = (source_for or functools.partial(SsmRegistrySource, limits=limits, tracing=tracing))(path, max_age_s)
    discovered = _discovered_urls(source, path, explicit, limits)
    missing = [name for name in SERVICES if name not in explicit and name not in discovered]
    if missing:
        raise ConfigurationError(
            "invalid BFF configuration: no URL for "
            + "; ".join(
                f"service {name}: neither {variable(name, 'base_url')} nor {path}{name}/url" for name in missing
            )
            + " (SSM Parameter Store) is set"
        )
    settings = Settings.from_env({**given, **{variable(name, "base_url"): url for name, url in discovered.items()}})
    registry = ServiceRegistry(settings.service_urls(), source=source, explicit=explicit, max_age_s=max_age_s)
    logger.debug("services discovered", path=path, services=sorted(discovered))
    return settings, registry


def _registry_settings(environ: Mapping[str, str]) -> Settings:
    """The settings without the services' URLs: the registry's path, max age and limits; every other setting but
    the URLs is checked with them, before the registry is read."""
    return Settings.from_env_but_urls(environ)


def _read_with_retries(source: RegistrySource, limits: RegistryLimits) -> Mapping[str, str]:
    """The registry's first read, tried `limits.attempts` times with backoff between failures."""
    for retry in range(limits.attempts):
        try:
            return source.read(force=False)
        except Exception:
            if retry + 1 >= limits.attempts:
                raise
            time.sleep(limits.backoff.delay_s(retry))  # at cold start: no event loop runs yet
    raise AssertionError("unreachable: attempts >= 1")


def _discovered_urls(
    source: RegistrySource, path: str, explicit: frozenset[str], limits: RegistryLimits
) -> dict[str, str]:
    try:
        parameters = _read_with_retries(source, limits)
    except Exception as error:
        raise ConfigurationError(
            f"invalid BFF configuration: cannot read the service registry {path} ({type(error).__name__})"
        ) from error
    discovered = {}
    for name, url in service_urls_in(parameters).items():
        if name in explicit:
            continue
        try:
            discovered[name] = valid_base_url(url)
        except ValueError as error:
            raise ConfigurationError(f"invalid BFF configuration: {path}{name}/url: {error}") from None
    return discovered
