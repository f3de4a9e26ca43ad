"""The slow-L2 row of the shared cache's failure matrix through `make dev` (SAM's API Gateway emulation, warm
worker processes): a DynamoDB L2 behind a proxy that holds each answer 50 ms, over the 25 ms read timeout. Pages
and a 50-id batch stay complete; the L2 is read at most once per section and request, and never written after its
reads failed."""

from __future__ import annotations

import httpx
import pytest

from tests.support.fault_servers import delaying_proxy
from tests.support.local_api import LocalApiFactory
from tests.support.moto_server import MotoServer

pytestmark = [pytest.mark.localapi, pytest.mark.integration]

SECTIONS = ("product", "reviews", "inventory")
BATCH_IDS = [f"P{index:03d}" for index in range(2, 52)]


def test_a_slow_l2_through_make_dev_costs_no_page_and_no_batch_item(
    local_api_factory: LocalApiFactory, moto_server: MotoServer
) -> None:
    # (an empty table: nothing another test left in it, such as the fleet's breaker record, decides a page here)
    moto_server.reset()
    port = int(moto_server.endpoint_url.rsplit(":", 1)[1])
    with delaying_proxy(port, 0.05) as proxy:
        # Given make dev whose L2 table answers through the delaying proxy, with the deployed timeouts (make dev
        # widens them for its moto server)
        api = local_api_factory(
            {
                "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{proxy.port}",
                "CACHE_TABLE_NAME": moto_server.table_name("FragmentCacheTable"),
                "CACHE_L2_TIMEOUT_MS": "25",
                "CACHE_L2_WRITE_TIMEOUT_MS": "50",
            }
        )
        with httpx.Client(base_url=api.base_url, timeout=10) as client:
            # When a page is served twice, then a batch of 50 fresh ids
            pages = [client.get("/product-details/P001") for _ in range(2)]
            batch = client.get("/product-details", params={"ids": ",".join(BATCH_IDS)})
        batch_reads = proxy.count(b"20120810.BatchGetItem")
        writes = proxy.count(b"20120810.PutItem") + proxy.count(b"20120810.BatchWriteItem")

    # Then every page is complete, and every batch item 200
    for page in pages:
        assert page.status_code == 200, page.text
        assert page.json()["meta"]["degraded"] == []
    assert batch.status_code == 200
    assert [item["status"] for item in batch.json()["items"]] == [200] * len(BATCH_IDS)
    # And the L2 was read at most once per section of each request (in parallel, a batch's 50 ids in one call), and
    # never written (the workers' init warm-ups are single GetItems, not counted here)
    assert batch_reads <= len(SECTIONS) * 3
    assert writes == 0
