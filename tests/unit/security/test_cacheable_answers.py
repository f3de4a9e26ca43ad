"""An answer that a shared cache may keep and serve to others carries nothing taken from the request: the
caller's X-Correlation-Id comes back only on answers meant for that caller alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bff.composition import build_app
from bff.downstream.http import create_http_client
from bff.observability.correlation import own_request_id
from tests.support.fake_downstream import FakeDownstream
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio

EVIL = "Call-1-800-EVIL-5550199"
FROM_THE_CALLER = {"x-correlation-id": EVIL}


async def app_client(fake: FakeDownstream, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(None, page_deadline_ms=300, **overrides)
    app = build_app(settings, create_http_client(settings, transport=fake.transport()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        yield client


@pytest.fixture
async def unknown_product() -> AsyncIterator[httpx.AsyncClient]:
    fake = FakeDownstream()
    fake.script("product", status=404, body={"title": "not found"})
    async for client in app_client(fake):
        yield client


def assert_nothing_of_the_caller(response: httpx.Response) -> None:
    assert EVIL not in response.text
    assert all(EVIL not in value for value in response.headers.values())


async def test_a_publicly_cacheable_404_carries_the_bffs_own_id_not_the_callers(
    unknown_product: httpx.AsyncClient,
) -> None:
    # Given a caller who sends its own text as the correlation id, for a product that does not exist
    response = await unknown_product.get("/product-details/P404", headers=FROM_THE_CALLER)
    # Then the 404 is one a shared cache may keep
    assert response.status_code == 404
    assert response.headers["cache-control"] == "public, max-age=30"
    # And neither its body nor its headers carry the caller's text: both carry the BFF's own request id
    assert_nothing_of_the_caller(response)
    own_id = response.headers["x-correlation-id"]
    assert response.json()["correlationId"] == own_id
    assert len(own_id) == 36


async def test_a_404_no_cache_may_keep_still_carries_the_callers_id() -> None:
    fake = FakeDownstream()
    fake.script("product", status=404, body={"title": "not found"})
    async for client in app_client(fake, negative_cache_ttl_s=0):
        response = await client.get("/product-details/P404", headers=FROM_THE_CALLER)
        assert (response.status_code, response.headers["cache-control"]) == (404, "no-store")
        assert response.headers["x-correlation-id"] == response.json()["correlationId"] == EVIL


async def test_a_publicly_cacheable_page_does_not_echo_the_callers_id() -> None:
    async for client in app_client(FakeDownstream(), page_cache_max_age_s=60):
        response = await client.get("/product-details/P001", headers=FROM_THE_CALLER)
        assert response.status_code == 200
        assert response.headers["cache-control"].startswith("public, max-age=")
        assert_nothing_of_the_caller(response)


async def test_a_page_revalidated_before_each_use_echoes_the_callers_id() -> None:
    async for client in app_client(FakeDownstream()):
        response = await client.get("/product-details/P001", headers=FROM_THE_CALLER)
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-correlation-id"] == EVIL


async def test_a_publicly_cacheable_batch_of_unknown_ids_carries_nothing_of_the_caller() -> None:
    fake = FakeDownstream()
    fake.script("product", status=200, body={})  # the batch endpoint leaves every id out: all unknown
    async for client in app_client(fake):
        response = await client.get("/product-details?ids=P404,P405", headers=FROM_THE_CALLER)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=30"
        assert [item["status"] for item in response.json()["items"]] == [404, 404]
        assert_nothing_of_the_caller(response)
        own_id = response.headers["x-correlation-id"]
        assert {item["problem"]["correlationId"] for item in response.json()["items"]} == {own_id}


def test_the_own_id_is_api_gateways_request_id_when_there_is_one() -> None:
    assert own_request_id({"requestContext": {"requestId": "Ab1-2Cd3"}}) == "Ab1-2Cd3"
    assert own_request_id({"requestContext": {"requestId": "bad id<"}}) != "bad id<"
    assert own_request_id(None) != own_request_id(None)
