"""The batch route through the local API: template.yaml's `GET /product-details` event reaches the BFF."""

from __future__ import annotations

import httpx
import pytest

from tests.support.local_api import LocalApi

pytestmark = pytest.mark.localapi


def test_the_batch_route_is_served_by_the_local_api(shared_local_api: LocalApi) -> None:
    # Given the local API in front of the BFF and the mocks, as `make dev` runs them
    # When a batch names two known products, an unknown one and a duplicate
    response = httpx.get(f"{shared_local_api.base_url}/product-details?ids=P001,missing1,P002,P001", timeout=10)
    # Then the BFF answers it: 200, one item per distinct id in order, each with the single route's status
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(item["id"], item["status"]) for item in items] == [("P001", 200), ("missing1", 404), ("P002", 200)]
    assert items[0]["page"]["product"]["priceFormatted"] == "$99.99"


def test_a_bad_batch_is_the_bffs_400_through_the_local_api(shared_local_api: LocalApi) -> None:
    response = httpx.get(f"{shared_local_api.base_url}/product-details?ids=P001,P%2F1", timeout=10)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "position 2" in response.json()["detail"]
