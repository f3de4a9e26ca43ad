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
from bff.cache.entry import StoreErrorKind, dumps
from bff.cache.redis import RedisStore
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
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_with: Exception | None = None
    delay_s: float = 0.0

    async def get_item(self, **request: Any) -> dict[str, Any]:
        await self._behave()
        item = self.items.get(request["Key"]["pk"]["S"])
        return {"Item": item} if item is not None else {}

    async def put_item(self, **request: Any) -> dict[str, Any]:
        await self._behave()
        self.items[request["Item"]["pk"]["S"]] = request["Item"]
        return {}

    async def _behave(self) -> None:
        await asyncio.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with


@dataclass
class Recorder:
    kinds: list[StoreErrorKind] = field(default_factory=list)

    def __call__(self, kind: StoreErrorKind) -> None:
        self.kinds.append(kind)


def dynamodb_store(
    monkeypatch: pytest.MonkeyPatch, fake: FakeDynamoDb, clock: FakeClock, errors: Recorder
) -> tuple[DynamoDbStore, list[int]]:
    store = DynamoDbStore("cache", get_timeout_s=0.05, put_timeout_s=0.05, on_error=errors, clock=clock)
    created: list[int] = []

    async def create_client() -> FakeDynamoDb:
        created.append(1)
        return fake

    monkeypatch.setattr(store, "_create_client", create_client)
    return store, created


async def test_dynamodb_put_then_get_round_trips_with_the_ttl_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, created = dynamodb_store(monkeypatch, fake, clock, errors)
    entry = entry_at(clock.now, fresh_s=60, stale_s=300.5)
    await store.put("k", entry)
    assert await store.get("k") == entry
    assert fake.items["k"]["expires_at"] == {"N": str(int(clock.now) + 361)}
    assert (created, errors.kinds) == ([1], [])


async def test_dynamodb_returns_no_expired_entry_although_the_item_is_still_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors)
    await store.put("k", entry_at(clock.now, fresh_s=1, stale_s=1))
    clock.advance(3)
    assert await store.get("k") is None
    assert "k" in fake.items
    assert errors.kinds == []


async def test_dynamodb_treats_an_unreadable_item_as_a_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, _ = dynamodb_store(monkeypatch, fake, clock, errors)
    fake.items["k"] = {"pk": {"S": "k"}, "entry": {"S": "{not json"}}
    fake.items["j"] = {"pk": {"S": "j"}}
    assert (await store.get("k"), await store.get("j")) == (None, None)


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
    assert await store.get("k") is None
    await store.put("k", entry_at(clock.now))
    assert asyncio.get_running_loop().time() - started < 0.5
    assert errors.kinds == [kind, kind]


async def test_dynamodb_creates_one_client_for_concurrent_first_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store, created = dynamodb_store(monkeypatch, fake, clock, errors)
    await asyncio.gather(*(store.get(f"k{index}") for index in range(5)))
    assert created == [1]


async def test_a_slow_client_creation_outlives_the_read_that_timed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a client that takes longer to create than one read may wait
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store = DynamoDbStore("cache", get_timeout_s=0.02, on_error=errors, clock=clock)
    created: list[int] = []

    async def slow_create_client() -> FakeDynamoDb:
        created.append(1)
        await asyncio.sleep(0.06)
        return fake

    monkeypatch.setattr(store, "_create_client", slow_create_client)
    # When the first read times out, and a later one comes after the creation finished
    assert await store.get("k") is None
    await asyncio.sleep(0.08)
    await store.put("k", entry_at(clock.now))
    # Then the creation was not cancelled nor repeated, and the later calls use the client
    assert await store.get("k") is not None
    assert (created, errors.kinds) == ([1], ["timeout"])


async def test_a_failed_client_creation_is_retried_on_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, fake, errors = FakeClock(), FakeDynamoDb(), Recorder()
    store = DynamoDbStore("cache", on_error=errors, clock=clock)
    attempts: list[int] = []

    async def flaky_create_client() -> FakeDynamoDb:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("no credentials yet")
        return fake

    monkeypatch.setattr(store, "_create_client", flaky_create_client)
    assert await store.get("k") is None
    assert await store.get("k") is None
    assert (len(attempts), errors.kinds) == (2, ["error"])


@dataclass
class FakeRedis:
    values: dict[str, tuple[str, int]] = field(default_factory=dict)
    fail_with: Exception | None = None

    async def get(self, key: str) -> bytes | None:
        if self.fail_with is not None:
            raise self.fail_with
        found = self.values.get(key)
        return found[0].encode() if found else None

    async def set(self, key: str, value: str, px: int) -> bool:
        if self.fail_with is not None:
            raise self.fail_with
        self.values[key] = (value, px)
        return True


def redis_store(fake: FakeRedis, clock: FakeClock, errors: Recorder) -> RedisStore:
    store = RedisStore("redis://127.0.0.1:9/0", on_error=errors, clock=clock)
    client: Callable[[], FakeRedis] = lambda: fake  # noqa: E731
    store._client = client  # type: ignore[method-assign,assignment]
    return store


async def test_redis_writes_with_a_px_expiry_at_the_end_of_the_stale_window() -> None:
    clock, fake, errors = FakeClock(), FakeRedis(), Recorder()
    store = redis_store(fake, clock, errors)
    entry = entry_at(clock.now, fresh_s=60, stale_s=300)
    await store.put("k", entry)
    assert fake.values["k"] == (dumps(entry), 360_000)
    assert await store.get("k") == entry
    clock.advance(360)
    assert await store.get("k") is None
    assert errors.kinds == []


async def test_redis_skips_writing_an_expired_entry() -> None:
    clock, fake, errors = FakeClock(), FakeRedis(), Recorder()
    await redis_store(fake, clock, errors).put("k", entry_at(clock.now - 1000, fresh_s=1, stale_s=1))
    assert fake.values == {}


async def test_a_redis_failure_is_a_miss_and_reported() -> None:
    clock, fake, errors = FakeClock(), FakeRedis(fail_with=RedisConnectionError("refused")), Recorder()
    store = redis_store(fake, clock, errors)
    assert await store.get("k") is None
    await store.put("k", entry_at(clock.now))
    assert errors.kinds == ["error", "error"]


def test_redis_needs_a_redis_url() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisStore("http://127.0.0.1:6379")
