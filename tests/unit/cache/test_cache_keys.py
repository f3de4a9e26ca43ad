"""The fragment cache's keys hold only what changes a service's answer (service and id): a caller who varies
Accept-Language neither bypasses the cache nor fills it, and prices are still written in the negotiated locale."""

from __future__ import annotations

import httpx
import pytest

from bff.cache.entry import cache_key
from bff.cache.memory import MemoryStore
from bff.cache.tiered import TieredCache
from bff.composition import build_app
from bff.downstream.http import create_http_client
from tests.support.fake_downstream import FakeDownstream
from tests.support.settings import settings_for
from tests.unit.cache.support import FakeL2

pytestmark = pytest.mark.anyio

SECTIONS = ("product", "reviews", "inventory")
# Six variants of one page: supported locales, a fallback by language, a weighted list, and a made-up tag of the
# kind that once split the cache (`frag1:inventory:P001:x-133624295`).
LANGUAGES = ("en-US", "de-DE", "de-AT,de;q=0.9", "fr-FR;q=1, en;q=0.5", "ja-JP", "x-133624295")
EXPECTED_PRICES = ["$99.99", "99,99\u00a0$", "99,99\u00a0$", "99,99\u00a0$US", "$99.99", "$99.99"]


async def six_language_variants(l1_max_entries: int) -> tuple[FakeDownstream, FakeL2, list[object]]:
    fake, l2 = FakeDownstream(), FakeL2()
    settings = settings_for(page_deadline_ms=300)
    cache = TieredCache(MemoryStore(l1_max_entries), l2)
    app = build_app(settings, create_http_client(settings, transport=fake.transport()), cache)
    prices = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        for language in LANGUAGES:
            response = await client.get("/product-details/P001", headers={"accept-language": language})
            assert response.status_code == 200
            assert response.json()["meta"]["degraded"] == []
            prices.append(response.json()["product"]["priceFormatted"])
    return fake, l2, prices


@pytest.mark.parametrize("l1_max_entries", [1_000, 0], ids=["l1-and-l2", "l2-alone"])
async def test_six_languages_of_one_page_call_each_service_once_and_hold_one_l2_key_per_section(
    l1_max_entries: int,
) -> None:
    # Given six Accept-Language variants of P001, one after another
    fake, l2, prices = await six_language_variants(l1_max_entries)
    # Then each service was called once, and L2 holds one key per section
    assert {service: len(fake.calls_to(service)) for service in SECTIONS} == dict.fromkeys(SECTIONS, 1)
    assert set(l2.entries) == {cache_key(service, "P001") for service in SECTIONS}
    # And each price is written in the locale negotiated for its request, after the cache
    assert prices == EXPECTED_PRICES


async def test_the_callers_language_does_not_travel_downstream() -> None:
    fake, _, _ = await six_language_variants(1_000)
    assert fake.requests
    assert all("accept-language" not in request.headers for request in fake.requests)


def test_a_key_is_the_service_and_the_id_alone() -> None:
    assert cache_key("inventory", "P001") == "frag1:inventory:P001"
