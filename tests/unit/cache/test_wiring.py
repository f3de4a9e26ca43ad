"""The fragment cache as the app serves it: Server-Timing, the page's max-age, metrics, settings, composition."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from bff.api.server_timing import server_timing
from bff.composition import build_app, build_fragment_cache, cache_policy, shared_store
from bff.config.settings import Settings
from bff.downstream.http import create_http_client
from bff.errors import ConfigurationError
from bff.observability.metrics import OUTSIDE_INVOCATION, InvocationRecord, invocation_metrics
from tests.support.fake_downstream import FakeDownstream
from tests.support.log_lines import Lines, dimension_sets, json_lines
from tests.support.recording import recorded_client
from tests.support.settings import settings_for
from tests.support.tooling import REPO_ROOT

PAGE = "/product-details/P001"


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Lines:
    monkeypatch.setattr("bff.observability.metrics.METRICS_DISABLED", False)
    capsys.readouterr()
    return lambda: [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]


def page_app(fake: FakeDownstream, **overrides: object) -> FastAPI:
    settings = settings_for(None, page_cache_max_age_s=60, **overrides)
    return build_app(settings, create_http_client(settings, transport=fake.transport()))


async def app_client(fake: FakeDownstream, **overrides: object) -> httpx.AsyncClient:
    app = page_app(fake, **overrides)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test")


@pytest.fixture
async def client(fake: FakeDownstream) -> AsyncIterator[httpx.AsyncClient]:
    async with await app_client(fake) as client:
        yield client


def descriptions(response: httpx.Response) -> dict[str, str]:
    entries = [entry.strip().split(";") for entry in response.headers["server-timing"].split(",")]
    return {parts[0]: parts[1] for parts in entries if parts[1].startswith("desc=")}


@pytest.mark.anyio
async def test_server_timing_says_miss_then_hit_and_the_second_page_makes_no_call(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    first = await client.get(PAGE)
    calls_after_first = len(fake.requests)
    second = await client.get(PAGE)
    assert descriptions(first) == {"product": "desc=miss", "reviews": "desc=miss", "inventory": "desc=miss"}
    assert descriptions(second) == {"product": "desc=hit", "reviews": "desc=hit", "inventory": "desc=hit"}
    assert len(fake.requests) == calls_after_first == 3
    assert second.json() == first.json()


@pytest.mark.anyio
async def test_a_complete_page_is_as_fresh_as_its_most_volatile_section(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    # Given inventory (TTL 5 s) and reviews saying max-age=3
    fake.script("reviews", headers={"cache-control": "max-age=3"})
    response = await client.get(PAGE)
    # Then the page may be kept 3 s, under PAGE_CACHE_MAX_AGE_S (60)
    assert response.headers["cache-control"] == "public, max-age=3"


@pytest.mark.anyio
async def test_page_cache_max_age_is_the_upper_bound(fake: FakeDownstream) -> None:
    async with await app_client(fake, inventory_cache_ttl_s=600, reviews_cache_ttl_s=600) as client:
        response = await client.get(PAGE)
    assert response.headers["cache-control"] == "public, max-age=60"


@pytest.mark.anyio
async def test_a_no_store_section_leaves_the_page_revalidated_on_each_use(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    fake.script("inventory", headers={"cache-control": "no-store"})
    response = await client.get(PAGE)
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.anyio
async def test_a_stale_section_is_described_stale_and_the_page_is_not_stored(fake: FakeDownstream) -> None:
    async with await app_client(fake, reviews_cache_ttl_s=1, retry_max_attempts=1) as client:
        await client.get(PAGE)
        fake.script("reviews", status=503)
        await asyncio.sleep(1.05)  # past the reviews entry's freshness, inside its stale window
        response = await client.get(PAGE)
    assert descriptions(response)["reviews"] == "desc=stale"
    assert response.json()["meta"]["degraded"][0]["reason"] == "stale"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_an_unknown_product_is_negatively_cached(client: httpx.AsyncClient, fake: FakeDownstream) -> None:
    fake.script("product", status=404)
    first = await client.get("/product-details/NOPE")
    second = await client.get("/product-details/NOPE")
    assert (first.status_code, second.status_code) == (404, 404)
    assert len(fake.calls_to("product")) == 1
    assert descriptions(second)["product"] == "desc=hit"


@pytest.mark.anyio
async def test_each_lookup_is_counted_by_section_and_tier(fake: FakeDownstream, emf: Lines) -> None:
    # Given two requests for the same page, each recording into its invocation's record
    app, first, second = page_app(fake), InvocationRecord(), InvocationRecord()
    async with recorded_client(app, first) as client:
        await client.get(PAGE)
    async with recorded_client(app, second) as client:
        await client.get(PAGE)
    # Then the first missed every section and the second hit each in L1, by section in the invocation's document
    sections = ("product", "reviews", "inventory")
    assert first.tiers == dict.fromkeys(sections, "none")
    assert second.tiers == dict.fromkeys(sections, "l1")
    first_counts = {name: amount for name, (_, amount) in invocation_metrics(first).items() if "Latency" not in name}
    assert first_counts == {"ProductMisses": 1, "ReviewsMisses": 1, "InventoryMisses": 1}
    assert {name: amount for name, (_, amount) in invocation_metrics(second).items()} == {
        "ProductL1Hits": 1,
        "ReviewsL1Hits": 1,
        "InventoryL1Hits": 1,
    }
    # And no lookup writes a document of its own
    assert emf() == []


def test_a_lookup_is_named_by_section_and_tier_in_the_invocations_document(emf: Lines) -> None:
    invocation = InvocationRecord()
    invocation.record_cache_lookup("reviews", "l2")
    invocation.record_cache_lookup("gift-cards", None)
    assert {name: amount for name, (_, amount) in invocation_metrics(invocation).items()} == {
        "ReviewsL2Hits": 1,
        "GiftCardsMisses": 1,
    }
    assert emf() == []


def test_a_store_error_outside_an_invocation_is_a_document_of_its_own_by_tier_and_kind(emf: Lines) -> None:
    OUTSIDE_INVOCATION.record_cache_error("throttled")
    (document,) = emf()
    assert dimension_sets(document) == [["service", "Tier", "Kind"]]
    assert (document["Tier"], document["Kind"], document["CacheErrors"]) == ("l2", "throttled", [1.0])


def test_server_timing_puts_the_description_before_the_duration() -> None:
    header = server_timing({"product": 1.23, "total": 9.0}, {"product": "hit"})
    assert header == "product;desc=hit;dur=1.2, total;dur=9.0"


def test_the_cart_is_never_cached_and_the_others_have_the_issues_ttls() -> None:
    policy = cache_policy(settings_for())
    assert policy.ttl_s == {"product": 300.0, "reviews": 60.0, "inventory": 5.0, "cart": 0.0}
    assert (policy.stale_s, policy.negative_ttl_s, policy.write_timeout_s) == (300.0, 30.0, 0.05)
    # A request's L2 reads and writes together wait at most the L2's read timeout
    assert policy.l2_allowance_s == 0.025


def test_the_l1_size_is_a_setting_and_stale_max_entries_still_sets_it() -> None:
    assert build_fragment_cache(settings_for(cache_l1_max_entries=7)).l1.max_entries == 7
    assert build_fragment_cache(settings_for(stale_max_entries=9)).l1.max_entries == 9
    assert build_fragment_cache(settings_for()).l1.max_entries == 1000
    with pytest.raises(ConfigurationError, match="CACHE_L1_MAX_ENTRIES and STALE_MAX_ENTRIES"):
        settings_for(cache_l1_max_entries=7, stale_max_entries=9)


def test_no_table_and_no_url_means_no_l2() -> None:
    assert shared_store(settings_for()) is None


def test_a_table_and_a_url_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="CACHE_TABLE_NAME or CACHE_URL"):
        settings_for(cache_table_name="t", cache_url="redis://127.0.0.1:6379/0")


def test_a_cache_url_must_be_redis() -> None:
    with pytest.raises(ConfigurationError, match="redis://"):
        settings_for(cache_url="http://127.0.0.1:6379")


def test_l2_timeouts_come_from_the_settings() -> None:
    store = shared_store(settings_for(cache_url="redis://127.0.0.1:1/0", cache_l2_timeout_ms=30))
    assert store is not None
    assert (store.get_timeout_s, store.put_timeout_s) == (0.03, 0.05)  # type: ignore[attr-defined]


def test_settings_default_l2_timeouts_are_25_and_50_ms() -> None:
    settings = settings_for()
    assert (settings.cache_l2_timeout_ms, settings.cache_l2_write_timeout_ms, settings.cache_table_name) == (25, 50, "")


IMPORTS_PROBE = """
import json, sys
from bff.composition import compose
from bff.config.settings import Settings
composition = compose(Settings.from_env())
print(json.dumps({"l2": type(composition.cache.l2).__name__,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {"aiobotocore", "botocore", "redis"})}))
"""


@pytest.mark.parametrize(
    ("extra", "l2", "loaded_roots"),
    [
        ({}, "NoneType", set()),
        ({"CACHE_TABLE_NAME": "FragmentCache", "AWS_REGION": "eu-west-1"}, "DynamoDbStore", {"aiobotocore"}),
        ({"CACHE_URL": "redis://127.0.0.1:1/0"}, "RedisStore", {"redis"}),
    ],
    ids=["none", "dynamodb", "redis"],
)
def test_the_l2_client_library_is_imported_only_when_configured(
    extra: dict[str, str], l2: str, loaded_roots: set[str]
) -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("CACHE_", "AWS_ENDPOINT_URL"))}
    environ |= {f"{name}_SERVICE_URL": "http://127.0.0.1:1" for name in ("PRODUCT", "REVIEWS", "INVENTORY", "CART")}
    environ |= {"PYTHONPATH": str(REPO_ROOT / "functions/bff"), **extra}
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_PROBE], env=environ, capture_output=True, text=True, check=True, timeout=60
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["l2"] == l2
    # botocore itself is on the path already (SigV4 signing of downstream calls); its async client is not
    roots = {name.split(".")[0] for name in report["loaded"]} - {"botocore"}
    assert roots == loaded_roots


def test_settings_read_the_cache_variables() -> None:
    names = set(Settings.environment_variables())
    assert {
        "CACHE_TABLE_NAME",
        "CACHE_URL",
        "CACHE_L1_MAX_ENTRIES",
        "STALE_MAX_ENTRIES",
        "CACHE_L2_TIMEOUT_MS",
        "CACHE_L2_WRITE_TIMEOUT_MS",
    } <= names
