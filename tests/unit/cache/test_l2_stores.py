"""The L2 stores' rules with fake clients: every failure is a miss reported by kind, expiry is checked on read,
and a write carries the expiry. The real servers are in tests/integration/cache."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bff.cache import dynamodb, redis
from bff.cache.dynamodb import DynamoDbStore
from bff.cache.entry import CacheEntry, StoreErrorKind, dumps
from bff.cache.redis import RedisStore
from bff.composition import shared_store
from tests.support.reporting_store import ReportingStore
from tests.support.settings import settings_for
from tests.unit.cache.support import FakeClock, entry_at

pytestmark = pytest.mark.anyio


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "GetItem")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError(), "timeout"),
        (client_error("ProvisionedThroughputExceededException"), "throttled"),
        (client_error("ThrottlingException"), "throttled"),
        (client_error("RequestLimitExceeded"), "throttled"),
        (client_error("ResourceNotFoundException"), "error"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "error"),
        (RuntimeError("boom"), "error"),
    ],
)
def test_dynamodb_failures_are_classified(error: Exception, kind: StoreErrorKind) -> None:
    assert dynamodb.classify(error) == kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [(TimeoutError(), "timeout"), (RedisTimeoutError(), "timeout"), (RedisConnectionError(), "error")],
)
def test_redis_failures_are_classified(error: Exception, kind: StoreErrorKind) -> None:
    assert redis.classify(error) == kind


@dataclass
class FakeDynamoDb:
    """BatchGetItem and BatchWriteItem on one table; `throttle` leaves every key (item) unprocessed."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_with: Exception | None = None
    delay_s: float = 0.0
    throttle: bool = False
    calls: list[tuple[str, int]] = field(default_factory=list)

    async def batch_get_item(self, **request: Any) -> dict[str, Any]:
        ((table, wanted),) = request["RequestItems"].items()
        self.calls.append(("BatchGetItem", len(wanted["Keys"])))
        await self._behave()
        if self.throttle:
            return {"Responses": {table: []}, "UnprocessedKeys": request["RequestItems"]}
        keys = [key["pk"]["S"] for key in wanted["Keys"]]
        return {"Responses": {table: [self.items[key] for key in keys if key in self.items]}, "UnprocessedKeys": {}}

    async def batch_write_item(self, **request: Any) -> dict[str, Any]:
        ((_, writes),) = request["RequestItems"].items()
        self.calls.append(("BatchWriteItem", len(writes)))
        await self._behave()
        if self.throttle:
            return {"UnprocessedItems": request["RequestItems"]}
        for write in writes:
            item = write["PutRequest"]["Item"]
            self.items[item["pk"]["S"]] = item
        return {"UnprocessedItems": {}}

    async def _behave(self) -> None:
        await asyncio.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with


@dataclass
class Recorder:
    kinds: list[StoreErrorKind] = field(default_factory=list)

    def __call__(self, kind: StoreErrorKind) -> None:
        self.kinds.append(kind)


WITHIN_S = 1.0


def dynamodb_store(
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeDynamoDb,
    clock: FakeClock,
    errors: Recorder,
    *,
    timeout_s: float = 0.05,
    cool_off_s: float = 0.0,
) -> tuple[ReportingStore, list[int]]:
    store = ReportingStore(
        DynamoDbStore("cache", get_timeout_s=timeout_s, put_timeout_s=timeout_s, cool_off_s=cool_off_s, clock=clock),
        errors,
    )
    created: list[int] = []

    async def create_client() -> FakeDynamoDb:
        created.append(1)
        return fake

    monkeypatch.setattr(store.connection, "_create_client", create_client)
    return store, created


async def get(store: ReportingStore | DynamoDbStore | RedisStore, key: str) -> CacheEntry | None:
    return (await store.get_many([key], WITHIN_S)).get(key)


async def put(store: ReportingStore | DynamoDbStore | RedisStore, key: str, entry: CacheEntry) -> None:
    await store.put_many({key: entry}, WITHIN_S)


async def test_dynamodb_put_then_get_round_trips_with_the_ttl_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, created = dynamodb_store(monkeypatch, fake, clock, errors)
    entry = entry_at(clock.now, fresh_s=60, stale_s=300.5)
    await put(store, "k", entry)
    assert await get(store, "k") == entry
    assert fake.items["k"]["expires_at"] == {"N": str(int(clock.now) + 361)}
    assert (created, errors.kinds) == ([1], [])


async def test_dynamodb_reads_in_one_call_per_100_keys_and_writes_in_one_call_per_25_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 150 keys, as a 50-id batch of three sections would have
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors)
    keys = [f"k{index}" for index in range(150)]
    # When they are written, then read, together
    await store.put_many({key: entry_at(clock.now, value=key) for key in keys}, WITHIN_S)
    found = await store.get_many(keys, WITHIN_S)
    # Then DynamoDB saw six writes of 25 and two reads (100 and 50 keys), and every entry came back
    assert fake.calls == [("BatchWriteItem", 25)] * 6 + [("BatchGetItem", 100), ("BatchGetItem", 50)]
    assert sorted(found) == sorted(keys)
    assert errors.kinds == []


async def test_dynamodb_returns_no_expired_entry_although_the_item_is_still_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors)
    await put(store, "k", entry_at(clock.now, fresh_s=1, stale_s=1))
    clock.advance(3)
    assert await get(store, "k") is None
    assert "k" in fake.items
    assert errors.kinds == []


async def test_dynamodb_treats_an_unreadable_item_as_a_miss_reported_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors)
    fake.items["k"] = {"pk": {"S": "k"}, "entry": {"S": "{not json"}}
    fake.items["j"] = {"pk": {"S": "j"}}
    fake.items["n"] = {"pk": {"S": "n"}, "entry": {"N": "1"}}
    assert await store.get_many(["k", "j", "n"], WITHIN_S) == {}
    assert errors.kinds == ["malformed"] * 3
    # A malformed item says nothing of the store's health: it is still asked
    assert store.outage.allows_calls()


async def test_dynamodb_throttled_keys_are_misses_reported_once_and_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(throttle=True), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors)
    assert await store.get_many(["a", "b"], WITHIN_S) == {}
    await store.put_many({"a": entry_at(clock.now)}, WITHIN_S)
    assert fake.calls == [("BatchGetItem", 2), ("BatchWriteItem", 1)]
    assert errors.kinds == ["throttled", "throttled"]


@pytest.mark.parametrize(
    ("failure", "delay_s", "kind"),
    [
        (client_error("ProvisionedThroughputExceededException"), 0.0, "throttled"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), 0.0, "error"),
        (None, 1.0, "timeout"),
    ],
)
async def test_a_dynamodb_failure_is_a_miss_and_reported(
    monkeypatch: pytest.MonkeyPatch, failure: Exception | None, delay_s: float, kind: StoreErrorKind
) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(fail_with=failure, delay_s=delay_s), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors)
    started = asyncio.get_running_loop().time()
    assert await get(store, "k") is None
    await put(store, "k", entry_at(clock.now))
    assert asyncio.get_running_loop().time() - started < 0.5
    assert errors.kinds == [kind, kind]


async def test_after_a_failure_the_store_is_skipped_for_its_cool_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a store that never answers within its timeout, with a cool-off of 10 s
    clock, fake, errors = FakeClock(), FakeDynamoDb(delay_s=1.0), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors, timeout_s=0.02, cool_off_s=10.0)
    # When a read times out, then the write and reads that follow come within the cool-off
    started = asyncio.get_running_loop().time()
    assert await get(store, "k") is None
    await put(store, "k", entry_at(clock.now))
    assert [await get(store, "k") for _ in range(3)] == [None] * 3
    # Then only the first read reached the store, and all of it cost one read timeout
    assert fake.calls == [("BatchGetItem", 1)]
    assert errors.kinds == ["timeout"]
    assert asyncio.get_running_loop().time() - started < 0.02 + 0.1


@pytest.mark.parametrize("within_s", [0.0, -1.0])
async def test_a_call_with_no_time_left_is_not_made(monkeypatch: pytest.MonkeyPatch, within_s: float) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, created = dynamodb_store(monkeypatch, fake, clock, errors)
    assert await store.get_many(["k"], within_s) == {}
    await store.put_many({"k": entry_at(clock.now)}, within_s)
    assert (fake.calls, created, errors.kinds) == ([], [], [])


async def test_a_read_is_bounded_by_the_time_left_when_that_is_shorter(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(delay_s=1.0), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors, timeout_s=5.0)
    started = asyncio.get_running_loop().time()
    assert await store.get_many(["k"], 0.03) == {}
    assert asyncio.get_running_loop().time() - started < 0.03 + 0.1
    assert errors.kinds == ["timeout"]


def test_the_dynamodb_client_waits_at_most_a_page_deadline_on_a_socket_and_makes_one_attempt() -> None:
    store = shared_store(settings_for(cache_table_name="fragments", page_deadline_ms=400, cache_l2_timeout_ms=20))
    assert isinstance(store, DynamoDbStore)
    options = vars(store.connection.config)
    assert (options["connect_timeout"], options["read_timeout"]) == (0.4, 0.4)
    assert options["retries"] == {"mode": "standard", "total_max_attempts": 1}
    assert store.get_timeout_s == 0.02


async def test_dynamodb_creates_one_client_for_concurrent_first_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, created = dynamodb_store(monkeypatch, fake, clock, errors)
    await asyncio.gather(*(get(store, f"k{index}") for index in range(5)))
    assert created == [1]


async def test_a_slow_client_creation_outlives_the_read_that_timed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a client that takes longer to create than one read may wait
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store = ReportingStore(DynamoDbStore("cache", get_timeout_s=0.02, cool_off_s=0.0, clock=clock), errors)
    created: list[int] = []

    async def slow_create_client() -> FakeDynamoDb:
        created.append(1)
        await asyncio.sleep(0.06)
        return fake

    monkeypatch.setattr(store.connection, "_create_client", slow_create_client)
    # When the first read times out, and a later one comes after the creation finished
    assert await get(store, "k") is None
    await asyncio.sleep(0.08)
    await put(store, "k", entry_at(clock.now))
    # Then the creation was not cancelled nor repeated, and the later calls use the client
    assert await get(store, "k") is not None
    assert (created, errors.kinds) == ([1], ["timeout"])


async def test_a_failed_client_creation_is_retried_on_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store = ReportingStore(DynamoDbStore("cache", cool_off_s=0.0, clock=clock), errors)
    attempts: list[int] = []

    async def flaky_create_client() -> FakeDynamoDb:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("no credentials yet")
        return fake

    monkeypatch.setattr(store.connection, "_create_client", flaky_create_client)
    assert await get(store, "k") is None
    assert await get(store, "k") is None
    assert (len(attempts), errors.kinds) == (2, ["error"])


@dataclass
class FakePipeline:
    redis: FakeRedis
    queued: list[tuple[str, str, int]] = field(default_factory=list)

    def set(self, key: str, value: str, px: int) -> None:
        self.queued.append((key, value, px))

    async def execute(self) -> list[bool]:
        self.redis.calls.append(("pipeline", len(self.queued)))
        if self.redis.fail_with is not None:
            raise self.redis.fail_with
        for key, value, px in self.queued:
            self.redis.values[key] = (value, px)
        return [True] * len(self.queued)


@dataclass
class FakeRedis:
    values: dict[str, tuple[str, int]] = field(default_factory=dict)
    fail_with: Exception | None = None
    calls: list[tuple[str, int]] = field(default_factory=list)

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        self.calls.append(("mget", len(keys)))
        if self.fail_with is not None:
            raise self.fail_with
        return [self.values[key][0].encode() if key in self.values else None for key in keys]

    def pipeline(self, transaction: bool) -> FakePipeline:
        assert transaction is False
        return FakePipeline(self)


def redis_store(fake: FakeRedis, clock: FakeClock, errors: Recorder) -> ReportingStore:
    store = ReportingStore(RedisStore("redis://127.0.0.1:9/0", cool_off_s=0.0, clock=clock), errors)
    client: Callable[[], FakeRedis] = lambda: fake  # noqa: E731
    store.store.connection.client = client  # type: ignore[method-assign,assignment]
    return store


async def test_redis_writes_with_a_px_expiry_at_the_end_of_the_stale_window() -> None:
    clock, fake, errors = FakeClock(), FakeRedis(), Recorder()
    store = redis_store(fake, clock, errors)
    entry = entry_at(clock.now, fresh_s=60, stale_s=300)
    await put(store, "k", entry)
    assert fake.values["k"] == (dumps(entry), 360_000)
    assert await get(store, "k") == entry
    clock.advance(360)
    assert await get(store, "k") is None
    assert errors.kinds == []


async def test_redis_reads_many_keys_in_one_mget_and_writes_them_in_one_pipeline() -> None:
    clock, fake, errors = FakeClock(), FakeRedis(), Recorder()
    store = redis_store(fake, clock, errors)
    keys = [f"k{index}" for index in range(150)]
    await store.put_many({key: entry_at(clock.now) for key in keys}, WITHIN_S)
    found = await store.get_many(keys, WITHIN_S)
    assert fake.calls == [("pipeline", 150), ("mget", 150)]
    assert sorted(found) == sorted(keys)


async def test_redis_treats_a_value_that_is_no_entry_as_a_miss_reported_malformed() -> None:
    clock, fake, errors = FakeClock(), FakeRedis(), Recorder()
    store = redis_store(fake, clock, errors)
    fake.values["k"] = ("not an entry", 1000)
    assert await get(store, "k") is None
    assert errors.kinds == ["malformed"]


async def test_redis_skips_writing_an_expired_entry() -> None:
    clock, fake, errors = FakeClock(), FakeRedis(), Recorder()
    await put(redis_store(fake, clock, errors), "k", entry_at(clock.now - 1000, fresh_s=1, stale_s=1))
    assert (fake.values, fake.calls) == ({}, [])


async def test_a_redis_failure_is_a_miss_and_reported() -> None:
    clock, fake, errors = FakeClock(), FakeRedis(fail_with=RedisConnectionError("refused")), Recorder()
    store = redis_store(fake, clock, errors)
    assert await get(store, "k") is None
    await put(store, "k", entry_at(clock.now))
    assert errors.kinds == ["error", "error"]


def test_the_redis_client_waits_at_most_a_page_deadline_on_a_socket_and_never_retries() -> None:
    store = shared_store(settings_for(cache_url="redis://127.0.0.1:9/0", page_deadline_ms=400, cache_l2_timeout_ms=20))
    assert isinstance(store, RedisStore)
    options = store.connection.client().connection_pool.connection_kwargs
    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (0.4, 0.4)
    assert options["retry"].get_retries() == 0
    assert store.get_timeout_s == 0.02


def test_redis_needs_a_redis_url() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisStore("http://127.0.0.1:6379")


@pytest.mark.parametrize("backend", ["dynamodb", "redis"])
def test_the_cool_off_is_the_setting(backend: str) -> None:
    where = {"cache_table_name": "fragments"} if backend == "dynamodb" else {"cache_url": "redis://127.0.0.1:9/0"}
    store = shared_store(settings_for(None, cache_l2_cool_off_ms=2_500, **where))
    assert isinstance(store, DynamoDbStore | RedisStore)
    assert store.outage.cool_off_s == 2.5
