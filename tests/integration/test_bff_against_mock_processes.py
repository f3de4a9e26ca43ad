"""The BFF in process against real mock processes on 127.0.0.1, each fault set through its environment."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from bff.config.services import SERVICES
from tests.support.mock_processes import MockProcess, MockServiceFactory
from tests.support.resilience import bff_client as fresh_bff_client
from tests.support.resilience import closed_port_url, timed_get, urls_with

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

DEADLINE_MS = 400


def bff_client(urls: dict[str, str], **settings: object) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    return fresh_bff_client(urls, **{"page_deadline_ms": DEADLINE_MS, **settings})


async def test_calls_run_concurrently_so_latency_is_the_max_not_the_sum(
    mock_service_factory: MockServiceFactory,
) -> None:
    # Given all three services answer in 300 ms
    slow = {name: mock_service_factory(name, MOCK_LATENCY_MS="300").base_url for name in SERVICES}
    no_fragment_cache = {"cache_l1_max_entries": 0}  # the second page must call the services again
    timeouts = {f"{s}_timeout_ms": 1_500 for s in SERVICES}
    async with bff_client(slow, page_deadline_ms=2_000, **timeouts, **no_fragment_cache) as client:
        await client.get("/product-details/P001")  # first call opens the connections
        # When the page is requested
        response, elapsed = await timed_get(client, "/product-details/P001")
    # Then it arrives in about 300 ms, well under the 900 ms sum
    assert response.status_code == 200
    assert response.json()["meta"]["degraded"] == []
    assert 0.3 <= elapsed < 0.6


# Only the hang is about time: it must end in "timeout" at the 400 ms page deadline. Every other fault answers at
# once (no mock latency) under a deadline and call timeouts with room for all the retries and their backoff on a
# loaded machine, so an attempt still in flight when time runs out cannot turn its reason into "timeout".
ROOMY = {
    "page_deadline_ms": 5_000,
    **{f"{service}_timeout_ms": 2_000 for service in ("product", "reviews", "inventory")},
}
AT_ONCE = {"MOCK_LATENCY_MS": "0"}
OPTIONAL_FAULTS = [
    ({"MOCK_FAULT": "error", **AT_ONCE}, ROOMY, "unavailable"),
    ({"MOCK_ERROR_RATE": "1", **AT_ONCE}, ROOMY, "unavailable"),
    ({"MOCK_FAULT": "hang"}, {"page_deadline_ms": DEADLINE_MS}, "timeout"),
    ({"MOCK_FAULT": "malformed", **AT_ONCE}, ROOMY, "bad_response"),
    ({"MOCK_FAULT": "wrong-shape", **AT_ONCE}, ROOMY, "bad_response"),
]


@pytest.mark.parametrize("optional", ["reviews", "inventory"])
@pytest.mark.parametrize(
    ("fault", "settings", "reason"), OPTIONAL_FAULTS, ids=["error", "error-rate", "hang", "malformed", "wrong-shape"]
)
async def test_faulty_optional_service_degrades_its_section(
    reference_mocks: dict[str, MockProcess],
    mock_service_factory: MockServiceFactory,
    optional: str,
    fault: dict[str, str],
    settings: dict[str, int],
    reason: str,
) -> None:
    faulty = mock_service_factory(optional, **fault)
    async with bff_client(urls_with(reference_mocks, **{optional: faulty.base_url}), **settings) as client:
        response, elapsed = await timed_get(client, "/product-details/P001")
    assert response.status_code == 200
    body = response.json()
    assert body[optional] is None
    assert body["product"]["id"] == "P001"
    assert body["meta"]["degraded"] == [{"source": optional, "reason": reason}]
    assert response.headers["cache-control"] == "no-store"
    assert elapsed < settings["page_deadline_ms"] / 1000 + 0.25


@pytest.mark.parametrize("optional", ["reviews", "inventory"])
async def test_optional_service_down_degrades_its_section(
    reference_mocks: dict[str, MockProcess], optional: str
) -> None:
    async with bff_client(urls_with(reference_mocks, **{optional: closed_port_url()})) as client:
        response = await client.get("/product-details/P001")
    assert response.status_code == 200
    assert response.json()["meta"]["degraded"] == [{"source": optional, "reason": "unavailable"}]


PRODUCT_FAULTS = [
    ({"MOCK_FAULT": "error"}, 502),
    ({"MOCK_ERROR_RATE": "1"}, 502),
    ({"MOCK_FAULT": "hang"}, 504),
    ({"MOCK_FAULT": "malformed"}, 502),
    ({"MOCK_FAULT": "wrong-shape"}, 502),
]


@pytest.mark.parametrize(("fault", "status"), PRODUCT_FAULTS, ids=[str(f) for f, _ in PRODUCT_FAULTS])
async def test_faulty_product_service_fails_the_page_with_a_problem(
    reference_mocks: dict[str, MockProcess],
    mock_service_factory: MockServiceFactory,
    fault: dict[str, str],
    status: int,
) -> None:
    faulty = mock_service_factory("product", **fault)
    async with bff_client(urls_with(reference_mocks, product=faulty.base_url)) as client:
        response, elapsed = await timed_get(client, "/product-details/P001")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert faulty.base_url not in response.text
    assert elapsed < DEADLINE_MS / 1000 + 0.25


async def test_product_service_down_gives_502(reference_mocks: dict[str, MockProcess]) -> None:
    async with bff_client(urls_with(reference_mocks, product=closed_port_url())) as client:
        response = await client.get("/product-details/P001")
    assert response.status_code == 502


async def test_unknown_product_gives_404(reference_mocks: dict[str, MockProcess]) -> None:
    async with bff_client(urls_with(reference_mocks)) as client:
        response = await client.get("/product-details/P999")
    assert response.status_code == 404
    assert response.json()["type"].endswith("product-not-found")


async def test_invalid_id_makes_no_downstream_call(mock_service_factory: MockServiceFactory) -> None:
    mocks = {name: mock_service_factory(name) for name in SERVICES}
    async with bff_client({name: mock.base_url for name, mock in mocks.items()}) as client:
        response = await client.get("/product-details/..%2F__mock%2Fstats")
    assert response.status_code == 400
    async with httpx.AsyncClient() as probe:
        stats = [(await probe.get(f"{mock.base_url}/__mock/stats")).json() for mock in mocks.values()]
    assert [entry["requests"] for entry in stats] == [0] * len(mocks)
