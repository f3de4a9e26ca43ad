"""Service discovery: explicit variables, then the SSM registry (moto in process), then a clear error; and the
rate-limited, off-loop re-read that heals a moved service."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from pydantic import TypeAdapter

from bff.config.discovery import ServiceRegistry, SsmRegistrySource, discover
from bff.config.services import SERVICES, variable
from bff.config.settings import Settings
from bff.core.sections import Section
from bff.downstream.client import DownstreamClient
from bff.downstream.egress import AllowList, allowed_hosts_for
from bff.downstream.http import HttpxTransport, OutboundHttp
from bff.errors import ConfigurationError
from tests.support.context import NO_CONTEXT

PATH = "/product-bff/test/services/"
URLS = {name: f"https://{name}.internal" for name in SERVICES}

pytestmark = pytest.mark.anyio


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An in-process SSM (moto) that Powertools' SSMProvider reaches through boto3."""
    for name in ("AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("ssm", region_name="eu-west-1")


def register(ssm: object, urls: Mapping[str, str]) -> None:
    for name, url in urls.items():
        ssm.put_parameter(Name=f"{PATH}{name}/url", Value=url, Type="String", Overwrite=True)  # type: ignore[attr-defined]


class CountingSource:
    """A registry source that answers from a dict and counts its reads (one read = one GetParametersByPath)."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = dict(urls)
        self.reads: list[bool] = []
        self.threads: list[int] = []

    def read(self, *, force: bool) -> Mapping[str, str]:
        self.reads.append(force)
        self.threads.append(threading.get_ident())
        return {f"{name}/url": url for name, url in self.urls.items()}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def settle(registry: ServiceRegistry) -> None:
    """Lets a background refresh finish."""
    for _ in range(100):
        if registry._in_flight is None or registry._in_flight.done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the refresh never finished")


def test_every_service_is_discovered_from_the_ssm_path(ssm: object) -> None:
    # Given every service's URL under the registry path, and no URL variable
    register(ssm, URLS)
    register(ssm, {"unknown-service": "https://ignored.internal"})

    # When the BFF starts with the path
    settings, registry = discover({"SERVICE_REGISTRY_PATH": PATH})

    # Then each service's URL is the registry's, through Powertools Parameters and SSM
    assert settings.service_urls() == URLS
    assert dict(registry) == URLS
    assert "https://ignored.internal:443" not in registry.origins()


def test_an_explicit_variable_beats_the_registry(ssm: object) -> None:
    # Given the registry knows every service, and PRODUCT_SERVICE_URL and the reviews alias are set too
    register(ssm, URLS)
    environ = {
        "SERVICE_REGISTRY_PATH": PATH,
        "PRODUCT_SERVICE_URL": "https://explicit-product.internal",
        "REVIEW_SERVICE_URL": "https://explicit-reviews.internal",
    }

    # When the BFF starts
    settings, registry = discover(environ)

    # Then the variables win, and the others come from SSM
    assert settings.service_urls()["product"] == "https://explicit-product.internal"
    assert settings.service_urls()["reviews"] == "https://explicit-reviews.internal"
    assert settings.service_urls()["inventory"] == URLS["inventory"]
    # And a refresh never moves an explicit service
    registry.apply({"product": "https://elsewhere.internal", "inventory": "https://inventory-2.internal"})
    assert registry["product"] == "https://explicit-product.internal"
    assert registry["inventory"] == "https://inventory-2.internal"


def test_a_service_in_neither_place_fails_the_cold_start_naming_it_and_both_places(ssm: object) -> None:
    # Given the registry lacks inventory and cart, and no variable names them
    register(ssm, {name: url for name, url in URLS.items() if name not in {"inventory", "cart"}})

    # When the BFF starts, then the error names each missing service, its variable and its parameter
    with pytest.raises(ConfigurationError) as raised:
        discover({"SERVICE_REGISTRY_PATH": PATH})
    message = str(raised.value)
    for name in ("inventory", "cart"):
        assert f"service {name}" in message
        assert variable(name, "base_url") in message
        assert f"{PATH}{name}/url" in message
    assert "service product" not in message


def test_an_invalid_url_in_the_registry_fails_naming_the_parameter(ssm: object) -> None:
    register(ssm, {**URLS, "cart": "ftp://cart.internal"})
    with pytest.raises(ConfigurationError, match=f"{PATH}cart/url"):
        discover({"SERVICE_REGISTRY_PATH": PATH})


def test_an_empty_path_reads_no_ssm_at_all() -> None:
    # Given explicit URLs and no registry path
    environ = {variable(name, "base_url"): url for name, url in URLS.items()}

    def no_source(path: str, max_age_s: int) -> CountingSource:
        raise AssertionError("SSM must not be read")

    # When the BFF starts, then no source is even built, and the URLs are the variables'
    settings, registry = discover(environ, source_for=no_source)
    assert settings.service_urls() == URLS
    # And a failed connection asks nothing of a registry that does not exist
    registry.service_unreachable("product")
    assert registry._in_flight is None


def test_every_service_explicit_reads_no_ssm_even_with_a_path() -> None:
    environ = {"SERVICE_REGISTRY_PATH": PATH, **{variable(name, "base_url"): url for name, url in URLS.items()}}

    def no_source(path: str, max_age_s: int) -> CountingSource:
        raise AssertionError("SSM must not be read")

    settings, _ = discover(environ, source_for=no_source)
    assert settings.service_urls() == URLS


def test_without_a_path_a_missing_url_is_still_the_settings_error() -> None:
    with pytest.raises(ConfigurationError, match="PRODUCT_SERVICE_URL"):
        discover({variable(name, "base_url"): url for name, url in URLS.items() if name != "product"})


@pytest.mark.parametrize("path", ["product-bff/dev/services/", "/product-bff/dev/services", "/a//b/"])
def test_the_registry_path_must_be_an_ssm_path_with_both_slashes(path: str) -> None:
    with pytest.raises(ConfigurationError, match="SERVICE_REGISTRY_PATH"):
        discover({"SERVICE_REGISTRY_PATH": path})


def test_the_max_age_is_a_setting_defaulting_to_300_seconds() -> None:
    seen: list[int] = []

    def source(path: str, max_age_s: int) -> CountingSource:
        seen.append(max_age_s)
        return CountingSource(URLS)

    discover({"SERVICE_REGISTRY_PATH": PATH}, source_for=source)
    discover({"SERVICE_REGISTRY_PATH": PATH, "SERVICE_REGISTRY_MAX_AGE_S": "60"}, source_for=source)
    assert seen == [300, 60]
    assert {"SERVICE_REGISTRY_PATH", "SERVICE_REGISTRY_MAX_AGE_S"} <= set(Settings.environment_variables())


def test_the_ssm_source_passes_the_path_max_age_and_recursion_to_powertools() -> None:
    calls: list[dict[str, object]] = []

    class Provider:
        def get_multiple(self, path: str, **options: object) -> dict[str, str]:
            calls.append({"path": path, **options})
            return {"product/url": "https://p.internal"}

    assert SsmRegistrySource(PATH, 120, Provider()).read(force=True) == {"product/url": "https://p.internal"}
    assert calls == [{"path": PATH, "max_age": 120, "recursive": True, "force_fetch": True}]


async def test_an_unreachable_service_is_re_read_in_a_worker_thread_and_later_calls_use_the_new_url() -> None:
    # Given a registry discovered from a source, where product has since moved
    source = CountingSource(URLS)
    registry = ServiceRegistry(URLS, source=source, max_age_s=300)
    source.urls["product"] = "http://127.0.0.1:9999"

    # When a call to product could not connect
    registry.service_unreachable("product")
    await settle(registry)

    # Then the registry was read once, forced, off the event loop's thread; product's URL and origin follow
    assert source.reads == [True]
    assert source.threads != [threading.get_ident()]
    assert registry["product"] == "http://127.0.0.1:9999"
    assert "http://127.0.0.1:9999" in registry.origins()
    assert "https://product.internal:443" not in registry.origins()


async def test_many_failures_cause_one_read_per_max_age_per_service() -> None:
    # Given a registry with a max age of 300 s
    clock = Clock()
    source = CountingSource(URLS)
    registry = ServiceRegistry(URLS, source=source, max_age_s=300, clock=clock)

    # When product fails 1,000 times within the max age
    for _ in range(1_000):
        registry.service_unreachable("product")
        await settle(registry)
    # Then the registry was read exactly once
    assert len(source.reads) == 1

    # When the max age has passed, the next failure reads it again, and only once
    clock.now += 300
    for _ in range(100):
        registry.service_unreachable("product")
        await settle(registry)
    assert len(source.reads) == 2


async def test_failures_of_several_services_at_once_share_one_read() -> None:
    source = CountingSource(URLS)
    registry = ServiceRegistry(URLS, source=source, max_age_s=300)
    for name in SERVICES:
        registry.service_unreachable(name)
    await settle(registry)
    assert len(source.reads) == 1


async def test_a_failed_re_read_keeps_the_known_urls() -> None:
    class Broken:
        def read(self, *, force: bool) -> Mapping[str, str]:
            raise RuntimeError("throttled")

    registry = ServiceRegistry(URLS, source=Broken(), max_age_s=300)
    registry.service_unreachable("product")
    await settle(registry)
    assert dict(registry) == URLS


def test_an_invalid_url_found_by_a_re_read_is_ignored() -> None:
    registry = ServiceRegistry(URLS, source=CountingSource(URLS))
    registry.apply({"product": "not a url"})
    assert registry["product"] == URLS["product"]


async def test_the_allow_list_follows_the_registry_and_still_refuses_anything_else() -> None:
    # Given an allow-list read from the registry at each request
    registry = ServiceRegistry(URLS, source=CountingSource(URLS))
    reached: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        reached.append(str(request.url))
        return httpx.Response(200)

    client = OutboundHttp(
        HttpxTransport(httpx.MockTransport(answer)), None, connect_timeout_s=1.0, allow_list=AllowList(registry.origins)
    )

    # When product moves, then its new origin is allowed, its old one and any other are refused
    registry.apply({"product": "http://127.0.0.1:9999"})
    await client.get("http://127.0.0.1:9999/products/P1", {}, 1.0, service="product", max_body_bytes=64)
    for refused in ("https://product.internal/products/P1", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(httpx.ConnectError):
            await client.get(refused, {}, 1.0, service="product", max_body_bytes=64)
    assert reached == ["http://127.0.0.1:9999/products/P1"]


SECTION = Section("product", "product", "/products/{id}", 1_000, TypeAdapter(Any), critical=True)


@pytest.mark.parametrize(
    ("answer", "reported"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("slow"), False),
        (httpx.RemoteProtocolError("reset"), False),
        (httpx.Response(503), False),
    ],
    ids=["refused-or-dns", "connect-timeout", "reset", "503"],
)
async def test_the_client_reports_only_calls_that_could_not_connect(
    answer: Exception | httpx.Response, reported: bool
) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    unreachable: list[str] = []
    http = OutboundHttp(
        HttpxTransport(httpx.MockTransport(respond)),
        None,
        connect_timeout_s=1,
        allow_list=AllowList(allowed_hosts_for(URLS.values())),
    )
    client = DownstreamClient(http, URLS, max_response_bytes=1024, on_unreachable=unreachable.append)
    await client.fetch_once(SECTION, "P1", 1.0, NO_CONTEXT)
    assert unreachable == (["product"] if reported else [])


async def test_the_client_reads_the_registry_at_each_call() -> None:
    seen: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(404)

    registry = ServiceRegistry(URLS, source=CountingSource(URLS))
    http = OutboundHttp(
        HttpxTransport(httpx.MockTransport(respond)), None, connect_timeout_s=1, allow_list=AllowList(registry.origins)
    )
    client = DownstreamClient(http, registry, max_response_bytes=1024)
    await client.fetch_once(SECTION, "P1", 1.0, NO_CONTEXT)
    registry.apply({"product": "http://127.0.0.1:9999"})
    await client.fetch_once(SECTION, "P1", 1.0, NO_CONTEXT)
    assert seen == ["https://product.internal/products/P1", "http://127.0.0.1:9999/products/P1"]


def test_a_blank_url_variable_leaves_the_service_to_the_registry() -> None:
    # Given the template's empty URL parameter, passed as "", and the registry knowing the service
    environ = {"SERVICE_REGISTRY_PATH": PATH, "PRODUCT_SERVICE_URL": "", "REVIEW_SERVICE_URL": " "}

    # When the BFF starts, then the registry's URLs are used, and the registry may heal them
    settings, registry = discover(environ, source_for=lambda path, max_age_s: CountingSource(URLS))
    assert settings.service_urls() == URLS
    registry.apply({"product": "https://product-2.internal"})
    assert registry["product"] == "https://product-2.internal"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"PAGE_DEADLINE_MS": "abc"}, "PAGE_DEADLINE_MS: Input should be a valid integer"),
        ({"PAGE_DEADLINE_MS": "-5"}, "PAGE_DEADLINE_MS: Input should be greater than 0"),
        ({"RETRY_MAX_ATTEMPTS": "0"}, "RETRY_MAX_ATTEMPTS: Input should be greater than or equal to 1"),
        ({"PRODUCT_TIMEOUT_MS": "soon"}, "PRODUCT_TIMEOUT_MS: Input should be a valid integer"),
        ({"SUPPORTED_LOCALES": "xx"}, "SUPPORTED_LOCALES: Babel has no locale data (CLDR) to format prices for xx"),
    ],
)
def test_one_bad_setting_with_urls_left_to_the_registry_is_named_alone(overrides: dict[str, str], problem: str) -> None:
    # Given `make dev`'s environment: every URL variable blank (the registry has them), and one bad value
    environ = {"SERVICE_REGISTRY_PATH": PATH} | dict.fromkeys((variable(name, "base_url") for name in SERVICES), "")
    source = CountingSource(URLS)

    # When the BFF starts, then one line names that variable and nothing else, before the registry is read
    with pytest.raises(ConfigurationError) as raised:
        discover(environ | overrides, source_for=lambda path, max_age_s: source)
    message = str(raised.value)
    assert message.startswith(f"invalid BFF configuration: {problem}")
    assert ";" not in message
    assert "\n" not in message
    assert "SERVICE_URL" not in message
    assert source.reads == []


def test_every_bad_setting_is_named_at_once_with_urls_left_to_the_registry() -> None:
    environ = {"SERVICE_REGISTRY_PATH": PATH, "PAGE_DEADLINE_MS": "x", "INVENTORY_HEDGE_DELAY_MS": "-1"}

    with pytest.raises(ConfigurationError) as raised:
        discover(environ, source_for=lambda path, max_age_s: CountingSource(URLS))

    problems = str(raised.value).removeprefix("invalid BFF configuration: ").split("; ")
    assert sorted(problem.split(":")[0] for problem in problems) == ["INVENTORY_HEDGE_DELAY_MS", "PAGE_DEADLINE_MS"]


def test_a_variable_that_looks_like_a_setting_is_warned_about_with_the_closest_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a misspelled setting beside the registry's URLs, and variables Lambda and the template set
    environ = {
        "SERVICE_REGISTRY_PATH": PATH,
        "PRODUCT_SERVICE_TIMEOUT_MS": "100",
        "page_deadline_ms": "300",
        "SERVICE_REGISTRY_PUBLISHED": "a,b",
        "AWS_LAMBDA_FUNCTION_NAME": "bff",
        "LAMBDA_TASK_ROOT": "/var/task",
    }

    # When the BFF starts
    settings, _ = discover(environ, source_for=lambda path, max_age_s: CountingSource(URLS))

    # Then it starts with the defaults, and warns once per lookalike with the closest real name
    assert settings.services["product"].timeout_ms == SERVICES["product"].timeout_ms
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [
        "PRODUCT_SERVICE_TIMEOUT_MS is not a setting and is ignored; did you mean PRODUCT_TIMEOUT_MS?",
        "page_deadline_ms is not a setting and is ignored; did you mean PAGE_DEADLINE_MS?",
    ]
