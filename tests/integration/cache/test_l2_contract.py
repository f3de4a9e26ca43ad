"""The L2 stores against real servers: a moto server (DynamoDB) and a redis-server, with the same contract; plus
the failures a page must survive: a store that is down, one that never answers, and DynamoDB throttling."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from bff.cache.dynamodb import DynamoDbStore
from bff.cache.entry import CacheEntry, Clock, JsonValue, StoreErrorKind, cache_key
from bff.cache.memory import MemoryStore
from bff.cache.redis import RedisStore
from bff.cache.tiered import TieredCache
from tests.support.fault_servers import black_hole_port, refusing_port, throttling_endpoint
from tests.support.moto_server import MotoServer
from tests.support.redis_server import RedisServer
from tests.support.reporting_store import ReportingStore

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

type Store = ReportingStore
TABLE = "FragmentCacheTable"
LIVE_TIMEOUT_S = 2.0


@dataclass
class Recorder:
    kinds: list[StoreErrorKind] = field(default_factory=list)

    def __call__(self, kind: StoreErrorKind) -> None:
        self.kinds.append(kind)


@dataclass
class Backend:
    """Builds stores of one kind against the real server, or against a given host:port."""

    name: str
    make: Callable[[str | None, float, Recorder, Clock], Store]
    raw_present: Callable[[str], bool]

    def store(self, errors: Recorder, *, timeout_s: float = LIVE_TIMEOUT_S, clock: Clock = time.time) -> Store:
        return self.make(None, timeout_s, errors, clock)

    def store_at(self, address: str, errors: Recorder, *, timeout_s: float) -> Store:
        return self.make(address, timeout_s, errors, time.time)


@pytest.fixture
def aws_environment(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    for name, value in moto_server.environment().items():
        monkeypatch.setenv(name, value)
    return moto_server


def dynamodb_backend(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Backend:
    def make(address: str | None, timeout_s: float, errors: Recorder, clock: Clock) -> Store:
        if address is not None:
            # botocore's own variable, as in Lambda configuration: the store passes no endpoint itself.
            monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://{address}")
        store = DynamoDbStore(
            moto_server.table_name(TABLE), get_timeout_s=timeout_s, put_timeout_s=timeout_s, cool_off_s=0.0, clock=clock
        )
        return ReportingStore(store, errors)

    return Backend("dynamodb", make, lambda key: moto_server.raw_item(TABLE, key) is not None)


def redis_backend(redis_server: RedisServer) -> Backend:
    def make(address: str | None, timeout_s: float, errors: Recorder, clock: Clock) -> Store:
        url = f"redis://{address}/0" if address is not None else redis_server.url
        return ReportingStore(
            RedisStore(url, get_timeout_s=timeout_s, put_timeout_s=timeout_s, cool_off_s=0.0, clock=clock), errors
        )

    return Backend("redis", make, lambda key: redis_server.command("EXISTS", key) == b":1\r\n")


@pytest.fixture(params=["dynamodb", "redis"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Backend:
    if request.param == "dynamodb":
        return dynamodb_backend(request.getfixturevalue("aws_environment"), monkeypatch)
    return redis_backend(request.getfixturevalue("redis_server"))


@asynccontextmanager
async def opened(*stores: Store) -> AsyncIterator[None]:
    try:
        for store in stores:
            await store.open()
        yield
    finally:
        for store in stores:
            await store.close()


def unique_key() -> str:
    return cache_key("product", f"P-{uuid.uuid4().hex[:12]}")


async def get(store: Store, key: str) -> CacheEntry | None:
    return (await store.get_many([key], LIVE_TIMEOUT_S)).get(key)


async def put(store: Store, key: str, entry: CacheEntry) -> None:
    await store.put_many({key: entry}, LIVE_TIMEOUT_S)


def fresh_entry(*, fresh_s: float = 60, stale_s: float = 300, status: int = 200) -> CacheEntry:
    value: JsonValue = {"id": "P001", "name": "Awesome Gadget P001", "price": 9999} if status == 200 else None
    return CacheEntry.create(value, status=status, now=time.time(), fresh_s=fresh_s, stale_s=stale_s)


@pytest.mark.parametrize("status", [200, 404])
async def test_an_entry_written_by_one_environment_is_read_by_another(backend: Backend, status: int) -> None:
    # Given two environments with their own clients on the same L2
    errors = Recorder()
    writer, reader = backend.store(errors), backend.store(errors)
    key, entry = unique_key(), fresh_entry(status=status)
    async with opened(writer, reader):
        # When one writes an entry
        await put(writer, key, entry)
        # Then the other reads the same entry, and nothing failed
        assert await get(reader, key) == entry
    assert errors.kinds == []


async def test_a_key_never_written_is_a_plain_miss(backend: Backend) -> None:
    errors = Recorder()
    store = backend.store(errors)
    async with opened(store):
        assert await get(store, unique_key()) is None
    assert errors.kinds == []


async def test_an_expired_entry_is_a_miss_although_the_server_still_holds_it(backend: Backend) -> None:
    # Given an entry written now, and a reader whose clock is past the entry's stale window
    errors = Recorder()
    writer = backend.store(errors)
    reader = backend.store(errors, clock=lambda: time.time() + 3600)
    key = unique_key()
    async with opened(writer, reader):
        await put(writer, key, fresh_entry(fresh_s=1, stale_s=1))
        # Then the server still holds the item, but it is no answer
        assert backend.raw_present(key)
        assert await get(reader, key) is None
    assert errors.kinds == []


async def test_a_fresh_environment_fills_l1_from_l2(backend: Backend) -> None:
    # Given environment A cached an answer through both tiers
    errors = Recorder()
    l2_a, l2_b = backend.store(errors), backend.store(errors)
    key, entry = unique_key(), fresh_entry()
    async with opened(l2_a, l2_b):
        await TieredCache(MemoryStore(100), l2_a).put_many({key: entry}, LIVE_TIMEOUT_S)
        # When environment B, with an empty L1, reads it twice
        environment_b = TieredCache(MemoryStore(100), l2_b)
        first = (await environment_b.get_many([key], LIVE_TIMEOUT_S))[key]
        second = (await environment_b.get_many([key], LIVE_TIMEOUT_S))[key]
    # Then L2 answers first, and B's own L1 after
    assert first == (entry, "l2")
    assert second == (entry, "l1")


async def test_warming_pays_the_first_request_so_that_a_tight_read_timeout_holds(backend: Backend) -> None:
    # Given an entry in L2, and a new client warmed as during init
    errors = Recorder()
    writer = backend.store(errors)
    key, entry = unique_key(), fresh_entry()
    async with opened(writer):
        await put(writer, key, entry)
    reader = backend.store(errors, timeout_s=0.25)
    async with opened(reader):
        assert await reader.warm()
        # Then its reads answer within a timeout that a cold client's first request would exceed
        assert [await get(reader, key) for _ in range(3)] == [entry] * 3
    assert errors.kinds == []


async def test_a_closed_store_opens_a_new_client_and_answers_again(backend: Backend) -> None:
    # Given a store that answered, then was closed (as after a SnapStart restore: its sockets are dead)
    errors = Recorder()
    store = backend.store(errors)
    key, entry = unique_key(), fresh_entry()
    async with opened(store):
        await put(store, key, entry)
        assert await get(store, key) == entry
    # When it is warmed and read again
    async with opened(store):
        assert await store.warm()
        # Then a new client answers, and nothing failed
        assert await get(store, key) == entry
    assert errors.kinds == []


async def test_warming_a_store_that_is_down_reports_false_and_counts_nothing(backend: Backend) -> None:
    errors = Recorder()
    with refusing_port() as port:
        store = backend.store_at(f"127.0.0.1:{port}", errors, timeout_s=LIVE_TIMEOUT_S)
        async with opened(store):
            assert not await store.warm()
    assert errors.kinds == []


async def test_a_store_that_is_down_is_a_quick_miss(backend: Backend) -> None:
    errors = Recorder()
    with refusing_port() as port:
        store = backend.store_at(f"127.0.0.1:{port}", errors, timeout_s=LIVE_TIMEOUT_S)
        async with opened(store):
            started = time.perf_counter()
            assert await get(store, unique_key()) is None
            await put(store, unique_key(), fresh_entry())
            elapsed_s = time.perf_counter() - started
    assert errors.kinds == ["error", "error"]
    assert elapsed_s < 0.5, "a refused connection is not waited for, nor retried"


async def test_a_store_that_never_answers_is_a_miss_within_the_read_timeout(backend: Backend) -> None:
    errors = Recorder()
    with black_hole_port() as port:
        store = backend.store_at(f"127.0.0.1:{port}", errors, timeout_s=0.025)
        async with opened(store):
            started = time.perf_counter()
            results = [await get(store, unique_key()) for _ in range(3)]
            elapsed_s = time.perf_counter() - started
    assert results == [None, None, None]
    assert errors.kinds == ["timeout", "timeout", "timeout"]
    assert elapsed_s < 0.3


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
async def test_dynamodb_throttling_is_a_miss_reported_as_throttled_and_not_retried(
    aws_environment: MotoServer, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    errors = Recorder()
    with throttling_endpoint(code) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint.url)
        store = ReportingStore(
            DynamoDbStore(TABLE, get_timeout_s=LIVE_TIMEOUT_S, put_timeout_s=LIVE_TIMEOUT_S, cool_off_s=0.0), errors
        )
        async with opened(store):
            assert await get(store, unique_key()) is None
            await put(store, unique_key(), fresh_entry())
    assert errors.kinds == ["throttled", "throttled"]
    assert endpoint.requests == ["DynamoDB_20120810.BatchGetItem", "DynamoDB_20120810.BatchWriteItem"]


async def test_the_dynamodb_client_is_created_once_and_reused(aws_environment: MotoServer) -> None:
    errors = Recorder()
    store = ReportingStore(
        DynamoDbStore(aws_environment.table_name(TABLE), get_timeout_s=LIVE_TIMEOUT_S, put_timeout_s=LIVE_TIMEOUT_S),
        errors,
    )
    key = unique_key()
    async with opened(store):
        first_client = await store.connection.client()
        await put(store, key, fresh_entry())
        await asyncio.gather(*(get(store, key) for _ in range(10)))
        assert await store.connection.client() is first_client
    assert errors.kinds == []
