"""Service discovery against a real moto server (SSM) and real mock processes: a moved service heals."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import boto3
import httpx
import pytest

from bff.composition import compose
from bff.config.discovery import ServiceRegistry, SsmRegistrySource, discover
from bff.config.services import SERVICES
from tests.support.mock_processes import MockServiceFactory, running_mock
from tests.support.moto_server import REGION, MotoServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PATH = "/product-bff/it/services/"


@pytest.fixture
def registry_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """boto3 (and so Powertools Parameters) in this process talks to the moto server's SSM."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in moto_server.environment().items():
        monkeypatch.setenv(name, value)
    for name in SERVICES:
        for variable in (f"{name.upper()}_SERVICE_URL", "REVIEW_SERVICE_URL"):
            monkeypatch.delenv(variable, raising=False)
    return moto_server


def register(moto_server: MotoServer, name: str, url: str) -> None:
    ssm = boto3.client("ssm", endpoint_url=moto_server.endpoint_url, region_name=REGION)
    ssm.put_parameter(Name=f"{PATH}{name}/url", Value=url, Type="String", Overwrite=True)


class CountingSsmSource(SsmRegistrySource):
    """The real SSM source (Powertools Parameters), counting its reads: each is one GetParametersByPath here."""

    reads = 0

    def read(self, *, force: bool) -> Mapping[str, str]:
        CountingSsmSource.reads += 1
        return super().read(force=force)


async def wait_for_url(registry: ServiceRegistry, service: str, url: str) -> None:
    for _ in range(200):
        if registry[service] == url:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{service} never moved to {url}; still {registry[service]}")


async def test_a_moved_service_heals_after_the_first_refused_call(
    registry_env: MotoServer, mock_service_factory: MockServiceFactory, tmp_path: Path
) -> None:
    # Given every mock registered in SSM, and the BFF started from the registry alone
    mocks = {name: mock_service_factory(name, MOCK_LATENCY_MS="0") for name in SERVICES if name != "product"}
    for name, mock in mocks.items():
        register(registry_env, name, mock.base_url)
    with running_mock("product", tmp_path / "old", {"MOCK_LATENCY_MS": "0"}) as old_product:
        register(registry_env, "product", old_product.base_url)
        # (one attempt per call, so that the refused call cannot be healed by its own retry)
        environ = {"SERVICE_REGISTRY_PATH": PATH, "SERVICE_REGISTRY_MAX_AGE_S": "300", "RETRY_MAX_ATTEMPTS": "1"}
        CountingSsmSource.reads = 0
        settings, registry = discover(environ, source_for=CountingSsmSource)
        composition = compose(settings, registry=registry)
        transport = httpx.ASGITransport(app=composition.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
            assert (await client.get("/product-details/P001")).status_code == 200
            # When product moves: a new instance is registered, then the old one stops
            new_product = mock_service_factory("product", MOCK_LATENCY_MS="0")
            register(registry_env, "product", new_product.base_url)
    # (the old instance is gone: a turn of the loop lets the pool see its keep-alive connection closed, as any
    # real gap between a service's move and the next page would, so the next call opens a new connection)
    await asyncio.sleep(0.05)
    async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
        # Then the first call is refused, and that forces one re-read of the registry in the background
        # (another id than before, so that no stale copy of P001 can answer for it)
        first = await client.get("/product-details/P002")
        assert first.status_code >= 500
        await wait_for_url(registry, "product", new_product.base_url)
        # And later calls reach the new instance, through the allow-list, with no deploy
        later = await client.get("/product-details/P001")
        assert later.status_code == 200, later.text
        assert later.json()["product"]["id"] == "P001"
        # And the registry was read twice in all: at cold start, and once for the refusal
        assert CountingSsmSource.reads == 2
    await composition.http_client.aclose()


async def test_an_explicit_variable_beats_the_registry_on_a_real_ssm(registry_env: MotoServer) -> None:
    for name in SERVICES:
        register(registry_env, name, f"http://{name}.registry.internal")
    settings, _ = discover({"SERVICE_REGISTRY_PATH": PATH, "CART_SERVICE_URL": "http://cart.explicit.internal"})
    assert settings.service_urls()["cart"] == "http://cart.explicit.internal"
    assert settings.service_urls()["product"] == "http://product.registry.internal"
