"""Response shaping against real mock processes: `include` makes no call to a service it leaves out."""

from __future__ import annotations

import pytest

from tests.support.mock_processes import MockProcess
from tests.support.resilience import bff_client, requests_seen_by, urls_with

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SECTIONS = ("product", "reviews", "inventory")
# No hedged second request, so that each section fetched is exactly one request.
NO_HEDGING = {f"{name}_hedge_delay_ms": 0 for name in SECTIONS}


@pytest.mark.parametrize(
    ("include", "called"),
    [("product", {"product"}), ("reviews", {"reviews"}), ("product,inventory", {"product", "inventory"})],
)
async def test_include_calls_only_the_services_asked_for(
    reference_mocks: dict[str, MockProcess], include: str, called: set[str]
) -> None:
    # Given the mocks' request counts before the page
    before = {name: requests_seen_by(reference_mocks[name]) for name in SECTIONS}
    async with bff_client(urls_with(reference_mocks), **NO_HEDGING) as client:
        # When the page is asked for some sections only
        response = await client.get(f"/product-details/P001?include={include}")
        # Then it answers them, and only their services saw a request (one each)
        assert response.status_code == 200
    calls = {name: requests_seen_by(reference_mocks[name]) - before[name] for name in SECTIONS}
    assert calls == {name: int(name in called) for name in SECTIONS}
    assert set(response.json()) == called | {"reviewSummary", "availability", "meta"}


async def test_a_full_page_from_the_mocks_carries_every_derived_value(reference_mocks: dict[str, MockProcess]) -> None:
    async with bff_client(urls_with(reference_mocks)) as client:
        response = await client.get("/product-details/P001?reviewsLimit=1", headers={"accept-language": "de-DE"})
    body = response.json()
    assert body["product"]["priceFormatted"] == "99,99\u00a0$"
    assert body["product"]["currency"] == "USD"
    assert len(body["reviews"]) == 1
    assert body["reviewSummary"] == {"count": 2, "averageRating": 4.5}
    assert body["availability"] == {"inStock": True, "lowStock": False}
    assert response.headers.get_list("vary") == ["Accept-Language, Accept-Encoding"]
