"""The batch route: its parameter rules, item order and statuses, Cache-Control, chunking, and its sources."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import TypeAdapter

from bff.api.batch import parse_batch_ids, strictest
from bff.cache.entry import CacheEntry, cache_key
from bff.cache.memory import MemoryStore
from bff.cache.tiered import TieredCache
from bff.composition import compose
from bff.core.batch import chunks, unique_in_order
from bff.core.context import RequestContext
from bff.core.deadline import Deadline
from bff.core.outcomes import Failed, FailureReason, Fetched, SectionOutcome
from bff.core.sections import Page, Section
from bff.core.service import PageService
from bff.downstream.http import HttpxTransport
from bff.errors import InvalidParameterError
from bff.resilience.backoff import Backoff
from bff.resilience.caching import CachePolicy, ReadCache
from bff.resilience.caller import ResilientCaller
from bff.resilience.circuit_breaker import CircuitBreaker
from bff.resilience.guard import DownstreamGuard, RetryPolicy
from bff.resilience.reads import BatchEndpoint, SectionReads, item_outcome
from bff.resilience.retry_budget import RetryBudget
from tests.support.context import NO_CONTEXT
from tests.support.fake_downstream import SERVICE_HOSTS, inventory_body, product_body, reviews_body
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio

KNOWN = {f"P{number:03d}" for number in range(1, 101)}
BODIES = {"products": product_body, "reviews": reviews_body, "inventory": inventory_body}


# --- parameter rules -------------------------------------------------------------------------------------------


def test_ids_are_collapsed_keeping_the_first_occurrence_order() -> None:
    assert parse_batch_ids("ids=P003,P001,P003,P002,P001") == ["P003", "P001", "P002"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("", "ids is required"),
        ("ids=", "ids is required"),
        ("ids=P001,bad!id,also-bad!", "at position 2"),
        ("ids=P001,,P002", "at position 2"),
        ("ids=P001,_x", "'_x'"),
        ("ids=P001&ids=P002", "ids is repeated"),
        ("ids=P001&page=2", "'page'"),
        ("ids=" + ",".join(f"P{n:03d}" for n in range(1, 52)), "'P051' is one too many"),
    ],
)
def test_a_bad_request_is_refused_whole_naming_what_is_wrong(query: str, named: str) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        parse_batch_ids(query)
    assert named in refused.value.detail


def test_fifty_ids_are_accepted_with_duplicates_collapsed_but_counted() -> None:
    twenty_five = [f"P{n:03d}" for n in range(1, 26)]
    assert parse_batch_ids("ids=" + ",".join(twenty_five + twenty_five)) == twenty_five
    # The limit is on what is sent, as the document's maxItems says: 51 ids are refused even with a duplicate
    with pytest.raises(InvalidParameterError, match="at most 50 ids, duplicates included"):
        parse_batch_ids("ids=" + ",".join(twenty_five + twenty_five + ["P001"]))


def test_percent_encoded_commas_separate_ids_too() -> None:
    assert parse_batch_ids("ids=P001%2CP002") == ["P001", "P002"]


# --- chunking and ordering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "size", "sizes"), [(24, 50, [24]), (24, 10, [10, 10, 4]), (50, 50, [50]), (51, 50, [50, 1]), (1, 1, [1])]
)
def test_chunks_are_consecutive_and_at_most_the_size(count: int, size: int, sizes: list[int]) -> None:
    ids = [str(n) for n in range(count)]
    split = chunks(ids, size)
    assert [len(chunk) for chunk in split] == sizes
    assert [entity_id for chunk in split for entity_id in chunk] == ids


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        chunks(["a"], 0)


def test_unique_in_order_keeps_first_occurrences() -> None:
    assert unique_in_order(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


# --- Cache-Control ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["public, max-age=60", "public, max-age=30"], "public, max-age=30"),
        (["public, max-age=60", "no-store"], "no-store"),
        (["public, max-age=60", "no-cache"], "no-cache"),
        (["public, max-age=5"], "public, max-age=5"),
        ([], "no-store"),
    ],
)
def test_cache_control_is_the_strictest_of_the_items(values: list[str], expected: str) -> None:
    assert strictest(values) == expected


# --- the page service for many ids (pure, with a fake source) ------------------------------------------------

_ANY = TypeAdapter(object)
PAGE = Page(
    sections=(
        Section("product", "product", "/products/{id}", 100, _ANY, critical=True),
        Section("reviews", "reviews", "/reviews/{id}", 100, _ANY, critical=False),
    )
)


class FakeSource:
    """Answers each section for every id from `answers`; hangs the sections named in `hang`; records the ids."""

    def __init__(self, answers: Mapping[str, Mapping[str, SectionOutcome]], hang: Sequence[str] = ()) -> None:
        self.answers = answers
        self.hang = set(hang)
        self.asked: dict[str, list[str]] = {}

    async def fetch(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        self.asked[section.name] = list(entity_ids)
        if section.name in self.hang:
            await asyncio.sleep(10)
        return {entity_id: self.answers[section.name][entity_id] for entity_id in entity_ids}

    def fallback(self, section: Section, entity_id: str, failure: Failed, context: RequestContext) -> SectionOutcome:
        return failure

    def slowest_first(self, sections: Sequence[Section]) -> list[Section]:
        return list(sections)


def _fetched(value: object) -> Fetched:
    return Fetched(value, 1.0)  # type: ignore[arg-type]


async def test_items_come_in_request_order_each_with_its_own_status() -> None:
    # Given a product that exists, one that does not, and one whose reviews failed
    answers: dict[str, dict[str, SectionOutcome]] = {
        "product": {"A": _fetched({"id": "A"}), "B": Failed(FailureReason.NOT_FOUND, 1.0), "C": _fetched({"id": "C"})},
        "reviews": {"A": _fetched([]), "B": _fetched([]), "C": Failed(FailureReason.UNAVAILABLE, 1.0)},
    }
    source = FakeSource(answers)
    service = PageService(PAGE, source, deadline_ms=500, reserve_ms=0)
    # When the batch names them out of order, with a duplicate
    rendered = await service.render_many(["C", "A", "B", "C"], NO_CONTEXT)
    # Then each section was asked once for the distinct ids, and the items keep the request's order
    assert source.asked == {"product": ["C", "A", "B"], "reviews": ["C", "A", "B"]}
    assert [item.entity_id for item in rendered.items] == ["C", "A", "B"]
    statuses = [getattr(item.decision, "status", None) for item in rendered.items]
    assert statuses == [200, 200, 404]
    degraded = [getattr(item.decision, "degraded", None) for item in rendered.items]
    assert degraded == [True, False, None]


async def test_a_section_past_the_one_deadline_times_out_for_every_item() -> None:
    answers = {"product": {"A": _fetched({"id": "A"}), "B": _fetched({"id": "B"})}, "reviews": {}}
    service = PageService(PAGE, FakeSource(answers, hang=["reviews"]), deadline_ms=50, reserve_ms=0)
    rendered = await service.render_many(["A", "B"], NO_CONTEXT)
    assert rendered.timings_ms["total"] < 1000
    for item in rendered.items:
        assert getattr(item.decision, "degradations", None) == (("reviews", "timeout"),)


async def test_a_critical_section_past_the_deadline_is_each_items_504() -> None:
    answers: dict[str, dict[str, SectionOutcome]] = {"product": {}, "reviews": {"A": _fetched([])}}
    service = PageService(PAGE, FakeSource(answers, hang=["product"]), deadline_ms=50, reserve_ms=0)
    rendered = await service.render_many(["A"], NO_CONTEXT)
    assert getattr(rendered.items[0].decision, "status", None) == 504


async def test_a_page_is_a_batch_of_one_decided_as_its_batch_item() -> None:
    # Given a product whose reviews failed
    answers: dict[str, dict[str, SectionOutcome]] = {
        "product": {"A": _fetched({"id": "A"})},
        "reviews": {"A": Failed(FailureReason.UNAVAILABLE, 2.0)},
    }
    source = FakeSource(answers)
    service = PageService(PAGE, source, deadline_ms=500, reserve_ms=0)
    # When it is rendered as a page, then as a batch naming it alone
    page = await service.render("A", NO_CONTEXT)
    asked_by_page = dict(source.asked)
    batch = await service.render_many(["A"], NO_CONTEXT)
    # Then the page asked each section for that one id, as the batch did, and both decided alike
    assert asked_by_page == source.asked == {"product": ["A"], "reviews": ["A"]}
    assert page.decision == batch.items[0].decision
    assert page.freshness_s == batch.items[0].freshness_s == (None, 0.0)
    # And the page times each section by its own outcome
    assert (page.timings_ms["product"], page.timings_ms["reviews"]) == (1.0, 2.0)


async def test_a_batch_whose_critical_section_failed_for_every_id_stops_waiting() -> None:
    answers: dict[str, dict[str, SectionOutcome]] = {
        "product": {"A": Failed(FailureReason.UNAVAILABLE, 1.0), "B": Failed(FailureReason.NOT_FOUND, 1.0)},
        "reviews": {},
    }
    service = PageService(PAGE, FakeSource(answers, hang=["reviews"]), deadline_ms=2000, reserve_ms=0)
    rendered = await service.render_many(["A", "B"], NO_CONTEXT)
    assert rendered.timings_ms["total"] < 1000
    assert [getattr(item.decision, "status", None) for item in rendered.items] == [502, 404]


class LeavingOutSource(FakeSource):
    """Answers only the ids it has, leaving the others out; records each fallback it is handed."""

    def __init__(self, answers: Mapping[str, Mapping[str, SectionOutcome]]) -> None:
        super().__init__(answers)
        self.fallbacks: list[tuple[str, str, FailureReason]] = []

    async def fetch(
        self, section: Section, entity_ids: Sequence[str], deadline: Deadline, context: RequestContext
    ) -> dict[str, SectionOutcome]:
        known = self.answers[section.name]
        return {entity_id: known[entity_id] for entity_id in entity_ids if entity_id in known}

    def fallback(self, section: Section, entity_id: str, failure: Failed, context: RequestContext) -> SectionOutcome:
        self.fallbacks.append((section.name, entity_id, failure.reason))
        return failure


async def test_an_id_a_source_leaves_out_is_a_timeout_handed_to_the_fallback() -> None:
    # Given a source whose reviews answer leaves out B
    answers: dict[str, dict[str, SectionOutcome]] = {
        "product": {"A": _fetched({"id": "A"}), "B": _fetched({"id": "B"})},
        "reviews": {"A": _fetched([])},
    }
    source = LeavingOutSource(answers)
    service = PageService(PAGE, source, deadline_ms=500, reserve_ms=0)
    # When a batch names A and B
    rendered = await service.render_many(["A", "B"], NO_CONTEXT)
    # Then B's reviews were handed to the fallback once, as a timeout, and B is a degraded 200, not an error
    assert source.fallbacks == [("reviews", "B", FailureReason.TIMEOUT)]
    assert [getattr(item.decision, "status", None) for item in rendered.items] == [200, 200]
    assert getattr(rendered.items[1].decision, "degradations", None) == (("reviews", "timeout"),)


# --- the section reads (the resilient caller and the fragment cache in memory, over a recording service) ------

SECTION = Section("reviews", "reviews", "/reviews/{id}", 100, TypeAdapter(list[dict[str, int]]), critical=False)


class RecordingService:
    """The downstream attempt: answers `answer` (or one review) after `delay_s`, recording each call and its task."""

    def __init__(self, answer: Failed | Fetched | None = None, delay_s: float = 0.0) -> None:
        self.answer = answer
        self.delay_s = delay_s
        self.calls: list[tuple[str, str]] = []
        self.tasks: list[asyncio.Task[Any] | None] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(
        self, section: Section, entity_id: str, timeout_s: float, context: RequestContext, attempt: int
    ) -> Failed | Fetched:
        self.calls.append((section.path_template, entity_id))
        self.tasks.append(asyncio.current_task())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.delay_s)
        self.in_flight -= 1
        if self.answer is not None:
            return self.answer
        return Fetched([{"rating": 5}], 1.0)


def reads_over(
    service: RecordingService,
    endpoints: Mapping[str, BatchEndpoint] | None = None,
    *,
    concurrency: int = 4,
    cached: Sequence[str] = (),
) -> SectionReads:
    """Reads of the reviews section, cached for 60 s in memory, with a fresh entry for each id of `cached`."""
    guard = DownstreamGuard(CircuitBreaker("reviews"), RetryBudget(), asyncio.Semaphore(16), hedge_delay_s=None)
    caller = ResilientCaller(service, {"reviews": guard}, RetryPolicy(1, Backoff(0.001, 0.002)))
    tiers = TieredCache(MemoryStore(100), None)
    for entity_id in cached:
        entry = CacheEntry.create([], status=200, now=time.time(), fresh_s=60, stale_s=0)
        tiers.l1.put_now(cache_key("reviews", entity_id), entry)
    policy = CachePolicy(ttl_s={"reviews": 60.0}, stale_s=0.0, negative_ttl_s=30.0, write_timeout_s=0.05)
    return SectionReads(caller, ReadCache(tiers, policy), endpoints, concurrency=concurrency)


async def test_only_the_cache_misses_go_into_the_chunk_calls() -> None:
    service = RecordingService(Fetched({"a": [{"rating": 4}], "b": [{"rating": "x"}]}, 2.0))
    reads = reads_over(service, {"reviews": BatchEndpoint("/reviews", 2)}, cached=["cached"])
    outcomes = await reads.fetch(SECTION, ["a", "cached", "b", "c"], Deadline.after_ms(500), NO_CONTEXT)
    # One call per chunk of the misses, in order
    assert service.calls == [("/reviews?ids={id}", "a,b"), ("/reviews?ids={id}", "c")]
    assert outcomes["a"] == Fetched([{"rating": 4}], 2.0, cache="miss", fresh_for_s=60.0)
    cached = outcomes["cached"]
    assert isinstance(cached, Fetched)
    assert (cached.value, cached.cache) == ([], "hit")
    assert outcomes["b"] == Failed(FailureReason.BAD_RESPONSE, 2.0)  # not of the section's shape
    assert outcomes["c"] == Failed(FailureReason.NOT_FOUND, 2.0, cache="miss")  # left out of the answer


async def test_a_failed_chunk_call_fails_every_item_of_the_chunk() -> None:
    failure = Failed(FailureReason.UNAVAILABLE, 3.0)
    reads = reads_over(RecordingService(failure), {"reviews": BatchEndpoint("/reviews", 50)})
    outcomes = await reads.fetch(SECTION, ["a", "b"], Deadline.after_ms(500), NO_CONTEXT)
    assert outcomes == {"a": failure, "b": failure}


async def test_without_a_batch_path_per_id_calls_stay_within_the_concurrency_bound() -> None:
    service = RecordingService(delay_s=0.01)
    reads = reads_over(service, concurrency=3)
    ids = [f"P{n:03d}" for n in range(10)]
    outcomes = await reads.fetch(SECTION, ids, Deadline.after_ms(500), NO_CONTEXT)
    assert list(outcomes) == ids
    assert sorted(entity_id for _, entity_id in service.calls) == ids
    assert service.max_in_flight == 3


async def test_one_id_without_a_batch_endpoint_is_called_by_id_in_the_callers_own_task() -> None:
    # Given reads whose service has no batch endpoint (a page's)
    service = RecordingService()
    reads = reads_over(service)
    # When one id is read
    outcomes = await reads.fetch(SECTION, ["P1"], Deadline.after_ms(500), NO_CONTEXT)
    # Then one call by id went out, from this task (no task of its own), and the answer was settled
    assert service.calls == [("/reviews/{id}", "P1")]
    assert service.tasks == [asyncio.current_task()]
    assert outcomes == {"P1": Fetched([{"rating": 5}], 1.0, cache="miss", fresh_for_s=60.0)}
    # And the next read of it is answered by the cache
    again = (await reads.fetch(SECTION, ["P1"], Deadline.after_ms(500), NO_CONTEXT))["P1"]
    assert isinstance(again, Fetched)
    assert (len(service.calls), again.cache) == (1, "hit")


async def test_one_id_with_a_batch_endpoint_is_one_chunk_call() -> None:
    service = RecordingService(Fetched({"P1": [{"rating": 3}]}, 1.0))
    reads = reads_over(service, {"reviews": BatchEndpoint("/reviews", 50)})
    outcomes = await reads.fetch(SECTION, ["P1"], Deadline.after_ms(500), NO_CONTEXT)
    assert service.calls == [("/reviews?ids={id}", "P1")]
    assert outcomes["P1"] == Fetched([{"rating": 3}], 1.0, cache="miss", fresh_for_s=60.0)


def test_a_stale_or_odd_answer_is_a_bad_response_for_the_item() -> None:
    assert item_outcome(SECTION, Fetched(["not", "a", "mapping"], 1.0), "a") == Failed(FailureReason.BAD_RESPONSE, 1.0)


# --- the route, in process over a fake network ----------------------------------------------------------------


class FakeBatchNetwork:
    """Answers the batch endpoints like the mocks (unknown ids left out), and single calls; counts requests."""

    def __init__(self, failing: Sequence[str] = ()) -> None:
        self.failing = set(failing)
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        self.requests.append(f"{url.hostname}{url.path}?{url.query}" if url.query else f"{url.hostname}{url.path}")
        service = (url.hostname or "").removesuffix(".test")
        if service in self.failing:
            return httpx.Response(500, json={"title": "down"})
        collection, *rest = url.path.strip("/").split("/")
        render = BODIES[collection]
        if rest:
            return httpx.Response(200, json=render(rest[0])) if rest[0] in KNOWN else httpx.Response(404)
        ids = parse_qs(url.query)["ids"][0].split(",")
        return httpx.Response(200, json={entity_id: render(entity_id) for entity_id in ids if entity_id in KNOWN})


@pytest.fixture
def network() -> FakeBatchNetwork:
    return FakeBatchNetwork()


async def _client(network: FakeBatchNetwork, **settings: object) -> httpx.AsyncClient:
    config = settings_for(SERVICE_HOSTS, retry_max_attempts=1, **{f"{s}_hedge_delay_ms": 0 for s in BODIES}, **settings)
    composition = compose(config, HttpxTransport(httpx.MockTransport(network)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=composition.app), base_url="http://bff.test")


@pytest.fixture
async def client(network: FakeBatchNetwork) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(network) as client:
        yield client


async def test_the_batch_answers_200_with_items_in_request_order(
    client: httpx.AsyncClient, network: FakeBatchNetwork
) -> None:
    response = await client.get("/product-details?ids=P002,missing1,P001,P002")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert [(item["id"], item["status"]) for item in body["items"]] == [("P002", 200), ("missing1", 404), ("P001", 200)]
    assert body["items"][0]["page"]["product"]["id"] == "P002"
    assert body["items"][1]["problem"]["type"] == "urn:product-bff:problem:product-not-found"
    assert body["meta"] == {"requested": 3, "succeeded": 2, "failed": 1, "degraded": 0}
    # One call per service, with the distinct ids in order
    assert sorted(network.requests) == [
        "inventory.test/inventory?ids=P002%2Cmissing1%2CP001",
        "product.test/products?ids=P002%2Cmissing1%2CP001",
        "reviews.test/reviews?ids=P002%2Cmissing1%2CP001",
    ]


async def test_an_item_has_the_single_pages_body(client: httpx.AsyncClient) -> None:
    batch = (await client.get("/product-details?ids=P007")).json()
    single = (await client.get("/product-details/P007")).json()
    assert batch["items"][0]["page"] == single


async def test_a_failed_reviews_batch_degrades_every_item_of_it(network: FakeBatchNetwork) -> None:
    network.failing = {"reviews"}
    async with await _client(network) as client:
        response = await client.get("/product-details?ids=P001,P002")
    items = response.json()["items"]
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    for item in items:
        assert item["page"]["reviews"] is None
        assert item["page"]["meta"]["degraded"] == [{"source": "reviews", "reason": "unavailable"}]


async def test_a_failed_product_batch_gives_each_item_the_single_routes_502(network: FakeBatchNetwork) -> None:
    network.failing = {"product"}
    async with await _client(network) as client:
        response = await client.get("/product-details?ids=P001,P002")
    assert response.status_code == 200
    assert [item["status"] for item in response.json()["items"]] == [502, 502]
    assert response.headers["cache-control"] == "no-store"


async def test_cache_control_of_a_healthy_batch_is_the_least_of_its_items(network: FakeBatchNetwork) -> None:
    long_lived = {"reviews_cache_ttl_s": 120, "inventory_cache_ttl_s": 120}
    async with await _client(network, page_cache_max_age_s=60, negative_cache_ttl_s=30, **long_lived) as client:
        healthy = await client.get("/product-details?ids=P001,P002")
        with_missing = await client.get("/product-details?ids=P001,missing1")
    assert healthy.headers["cache-control"] == "public, max-age=60"
    assert with_missing.headers["cache-control"] == "public, max-age=30"


async def test_a_batch_path_set_empty_makes_per_id_calls(network: FakeBatchNetwork) -> None:
    async with await _client(network, inventory_batch_path="", inventory_batch_max_ids=2) as client:
        response = await client.get("/product-details?ids=P001,P002,P003")
    assert response.status_code == 200
    inventory_calls = sorted(request for request in network.requests if request.startswith("inventory"))
    assert inventory_calls == [
        "inventory.test/inventory/P001",
        "inventory.test/inventory/P002",
        "inventory.test/inventory/P003",
    ]


async def test_a_small_chunk_size_splits_the_batch_calls(network: FakeBatchNetwork) -> None:
    async with await _client(network, product_batch_max_ids=2) as client:
        await client.get("/product-details?ids=P001,P002,P003")
    assert sorted(request for request in network.requests if request.startswith("product")) == [
        "product.test/products?ids=P001%2CP002",
        "product.test/products?ids=P003",
    ]


@pytest.mark.parametrize("query", ["", "?ids=", "?ids=P001,a%0Ab", "?ids=P001&include=product&x=1", "?foo=1"])
async def test_a_bad_batch_request_is_a_400_problem_with_no_downstream_call(
    client: httpx.AsyncClient, network: FakeBatchNetwork, query: str
) -> None:
    response = await client.get(f"/product-details{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert network.requests == []


async def test_openapi_describes_the_batch_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/product-details"]["get"]
    assert [parameter["name"] for parameter in operation["parameters"]] == [
        "ids",
        "include",
        "reviewsLimit",
        "Accept-Language",
        "If-None-Match",
        "X-Correlation-Id",
    ]
    assert operation["parameters"][0]["schema"]["maxItems"] == 50
    assert "304" in operation["responses"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("BatchDetails")


async def test_an_items_freshness_limits_the_batch_as_it_limits_the_single_page(network: FakeBatchNetwork) -> None:
    # Given inventory cached for 5 s (its default TTL) under a 60 s page ceiling
    async with await _client(network, page_cache_max_age_s=60) as client:
        batch = await client.get("/product-details?ids=P001")
        single = await client.get("/product-details/P002")
    assert batch.headers["cache-control"] == single.headers["cache-control"] == "public, max-age=5"


async def test_include_and_reviews_limit_apply_to_every_item(
    client: httpx.AsyncClient, network: FakeBatchNetwork
) -> None:
    response = await client.get("/product-details?ids=P001,P002&include=product,reviews&reviewsLimit=1")
    assert response.status_code == 200
    for item in response.json()["items"]:
        page = item["page"]
        assert "inventory" not in page
        assert len(page["reviews"]) == 1
        assert page["reviewSummary"] == {"count": 2, "averageRating": 4.5}
        assert page["availability"] is None
    assert not any(request.startswith("inventory") for request in network.requests)
    assert response.headers["vary"] == "Accept-Language, Accept-Encoding"


async def test_an_item_is_shaped_exactly_as_the_single_page_for_the_callers_locale(client: httpx.AsyncClient) -> None:
    german = {"accept-language": "de-DE"}
    batch = (await client.get("/product-details?ids=P003&reviewsLimit=1", headers=german)).json()
    single = (await client.get("/product-details/P003?reviewsLimit=1", headers=german)).json()
    assert batch["items"][0]["page"] == single
    assert single["product"]["priceFormatted"] == "99,99\u00a0$"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("ids=P001&include=cart", "include"),
        ("ids=P001&reviewsLimit=0", "reviewsLimit"),
        ("ids=P001&include=product&include=reviews", "include is repeated"),
        ("ids=P001&ids=P002", "ids is repeated"),
        ("ids=P001&pageSize=2", "'pageSize'"),
    ],
)
async def test_the_single_routes_parameter_rules_hold_in_a_batch(
    client: httpx.AsyncClient, network: FakeBatchNetwork, query: str, named: str
) -> None:
    response = await client.get(f"/product-details?{query}")
    assert response.status_code == 400
    assert named in response.json()["detail"]
    assert network.requests == []


async def test_cached_items_are_not_fetched_again_only_the_misses_are(
    client: httpx.AsyncClient, network: FakeBatchNetwork
) -> None:
    # Given P001 fetched once (by the single route), so its sections are in the fragment cache
    await client.get("/product-details/P001")
    network.requests.clear()
    # When a batch names it with two others
    response = await client.get("/product-details?ids=P001,P002,P003")
    # Then only the misses went into each batch call, and every item is served
    assert [item["status"] for item in response.json()["items"]] == [200, 200, 200]
    assert sorted(network.requests) == [
        "inventory.test/inventory?ids=P002%2CP003",
        "product.test/products?ids=P002%2CP003",
        "reviews.test/reviews?ids=P002%2CP003",
    ]
    # And the fetched items were stored per id: the single route now finds P002 in the cache
    network.requests.clear()
    await client.get("/product-details/P002")
    assert network.requests == []
