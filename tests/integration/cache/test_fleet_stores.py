"""The fleet breaker's stores against real servers (a moto server for DynamoDB, a redis-server), with the same
contract as the store in memory that the unit tests use; plus a store that is down or never answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from botocore.exceptions import BotoCoreError
from redis.exceptions import RedisError

from bff.cache.dynamodb import DynamoDbConnection
from bff.cache.fleet_dynamodb import DynamoDbFleetStore
from bff.cache.fleet_redis import RedisFleetStore
from bff.cache.fleet_state import FleetStore, MemoryFleetStore, StoreBusyError
from bff.cache.redis import RedisConnection, RedisStore
from tests.support.fault_servers import black_hole_port, delaying_proxy, refusing_port, throttling_endpoint
from tests.support.moto_server import MotoServer
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

TABLE = "FragmentCacheTable"
# Bounds that only a hang reaches: on a loaded 2-core machine, five clients racing against moto take seconds.
LOADED_S = 10.0

NOW = 1_000_000.0
type MakeStore = Callable[[], FleetStore]


@pytest.fixture(params=["memory", "dynamodb", "redis"])
def make_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> MakeStore:
    # Each test gets its own record (a new item key or hash key), so tests never see each other's state.
    record = f"fleet-breaker-test-{uuid.uuid4().hex}"
    if request.param == "memory":
        shared = MemoryFleetStore()
        return lambda: shared
    if request.param == "dynamodb":
        moto: MotoServer = request.getfixturevalue("moto_server")
        for name, value in moto.environment().items():
            monkeypatch.setenv(name, value)
        return lambda: DynamoDbFleetStore(
            moto.table_name(TABLE),
            DynamoDbConnection(connect_timeout_s=LOADED_S, read_timeout_s=LOADED_S),
            timeout_s=LOADED_S,
            item_key=record,
        )
    redis: RedisServer = request.getfixturevalue("redis_server")
    return lambda: RedisFleetStore(
        redis.url,
        RedisConnection(redis.url, connect_timeout_s=LOADED_S, read_timeout_s=LOADED_S),
        timeout_s=LOADED_S,
        key=record,
    )


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[FleetStore]:
    subject = make_store()
    yield subject
    await subject.close()


async def test_an_empty_record_reads_as_every_service_closed(store: FleetStore) -> None:
    assert await store.read() == {}


async def totals(store: FleetStore, service: str, failures: int, repeats: int, window: int) -> tuple[int, int]:
    tally = await store.report_failures(service, failures, repeats, window)
    return tally.failures, tally.repeats


async def test_failures_and_repeats_add_up_within_a_window_and_restart_in_the_next(store: FleetStore) -> None:
    assert await totals(store, "reviews", 2, 1, window=7) == (2, 1)
    assert await totals(store, "reviews", 3, 0, window=7) == (5, 1)
    assert await totals(store, "inventory", 1, 0, window=7) == (1, 0)
    assert await totals(store, "reviews", 1, 1, window=8) == (1, 1)


async def test_a_report_answers_with_every_record(store: FleetStore) -> None:
    await store.trip("inventory", NOW, NOW + 5)
    tally = await store.report_failures("reviews", 1, 0, window=7)
    assert tally.records["inventory"].is_open(NOW)
    assert "reviews" not in tally.records


async def test_a_trip_opens_once_and_every_environment_reads_it(store: FleetStore, make_store: MakeStore) -> None:
    await store.report_failures("reviews", 5, 4, window=1)
    records = await store.trip("reviews", NOW, NOW + 5)
    assert records["reviews"].is_open(NOW)
    # A second trip while open changes nothing (its later `until` is ignored)
    again = await store.trip("reviews", NOW + 1, NOW + 6)
    assert again["reviews"].until == pytest.approx(NOW + 5)
    # The trip restarted both counts
    assert await totals(store, "reviews", 1, 0, window=1) == (1, 0)
    other = make_store()
    try:
        assert (await other.read())["reviews"].is_open(NOW)
    finally:
        if other is not store:
            await other.close()


async def test_the_probe_lease_goes_to_one_taker_only_once_half_open(store: FleetStore, make_store: MakeStore) -> None:
    await store.trip("reviews", NOW, NOW + 5)
    assert not await store.take_lease("reviews", NOW + 1, NOW + 3)  # still open
    others = [make_store() for _ in range(5)]
    try:
        for other in others:  # each client created and connected first (on a loaded machine that takes seconds)
            await other.read(timeout_s=30.0)
        taken = await asyncio.gather(*(other.take_lease("reviews", NOW + 5, NOW + 7) for other in others))
        assert sum(taken) == 1
        assert not await store.take_lease("reviews", NOW + 6, NOW + 8)  # the lease is live
        assert await store.take_lease("reviews", NOW + 7, NOW + 9)  # it lapsed
    finally:
        for other in others:
            if other is not store:
                await other.close()


async def test_a_probe_verdict_ramps_or_reopens_and_a_late_one_changes_nothing(store: FleetStore) -> None:
    await store.trip("reviews", NOW, NOW + 5)
    assert await store.take_lease("reviews", NOW + 5, NOW + 7)
    await store.settle_probe("reviews", "ramp", NOW + 6, NOW + 16)
    record = (await store.read())["reviews"]
    assert (record.state, record.since, record.until, record.lease_until) == ("ramp", NOW + 6, NOW + 16, 0.0)
    await store.settle_probe("reviews", "open", NOW + 7, NOW + 12)  # late: the service is no longer open
    assert (await store.read())["reviews"].state == "ramp"
    await store.trip("reviews", NOW + 8, NOW + 13)  # failures during the ramp open it again
    assert (await store.read())["reviews"].is_open(NOW + 8)


@pytest.mark.parametrize("kind", ["redis", "dynamodb"])
@pytest.mark.parametrize("fault", ["refusing", "black_hole"])
async def test_a_store_that_is_down_or_hung_raises_within_its_timeout(
    kind: str, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with refusing_port() if fault == "refusing" else black_hole_port() as port:
        subject: FleetStore
        if kind == "redis":
            subject = RedisFleetStore(f"redis://127.0.0.1:{port}/0", timeout_s=0.05)
        else:
            connection = DynamoDbConnection(region_name="eu-west-1", endpoint_url=f"http://127.0.0.1:{port}")
            subject = DynamoDbFleetStore("any", connection, timeout_s=0.05)
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        try:
            operations: list[Callable[[], Awaitable[object]]] = [
                subject.read,
                lambda: subject.report_failures("reviews", 1, 0, 1),
            ]
            for operation in operations:
                started = time.monotonic()
                with pytest.raises((OSError, TimeoutError, RedisError, BotoCoreError)):
                    await operation()
                # Far below botocore's and redis-py's defaults (a minute's connect timeout, retries); the first
                # DynamoDB call also builds its client, which takes a second on a loaded machine.
                assert time.monotonic() - started < 5.0
        finally:
            await subject.close()


async def test_a_fleet_operation_cut_off_mid_call_costs_the_l2_no_reconnect(redis_server: RedisServer) -> None:
    # Given the L2 and the fleet's store each over its own RedisConnection, as the composition root wires them,
    # behind a proxy that holds each answer 5 ms, and the L2's connection open
    with delaying_proxy(redis_server.port, 0.005) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        l2_connection, fleet_connection = RedisConnection(url), RedisConnection(url)
        l2 = RedisStore(url, l2_connection, get_timeout_s=LOADED_S)
        fleet = RedisFleetStore(url, fleet_connection, timeout_s=LOADED_S, key=f"fleet-{uuid.uuid4().hex}")
        try:
            assert await l2.get_many(["fragment:reviews:1"], within_s=LOADED_S) == {}
            opened = proxy.connections
            # When a fleet read is cut off while its answer is on the way (a response was ready first)
            read = asyncio.get_running_loop().create_task(fleet.read())
            await asyncio.wait({read}, timeout=0.0025)  # within the proxy's hold: no answer yet
            assert not read.done()
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)
            # Then the next L2 read uses the L2's open connection: no new connection, no error
            errors: list[object] = []
            assert await l2.get_many(["fragment:reviews:1"], LOADED_S, lambda *error: errors.append(error)) == {}
            assert errors == []
            assert proxy.connections <= opened + 1  # at most the fleet's own, and no other
            assert l2_connection.client().connection_pool._available_connections[0].is_connected
        finally:
            await fleet.close()
            await l2.close()


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
async def test_a_throttled_dynamodb_write_raises_store_busy_after_one_request(
    code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a DynamoDB endpoint that throttles every request
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with throttling_endpoint(code) as endpoint:
        connection = DynamoDbConnection(region_name="eu-west-1", endpoint_url=endpoint.url)
        subject = DynamoDbFleetStore("any", connection, timeout_s=5.0)
        try:
            # When a failure is reported and a trip attempted
            with pytest.raises(StoreBusyError):
                await subject.report_failures("reviews", 1, 0, window=1)
            with pytest.raises(StoreBusyError):
                await subject.trip("reviews", NOW, NOW + 5)
        finally:
            await subject.close()
        # Then each was one request: botocore did not retry the throttle
        assert endpoint.requests == ["DynamoDB_20120810.UpdateItem"] * 2
