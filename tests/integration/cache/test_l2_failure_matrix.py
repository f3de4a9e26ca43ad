"""The shared cache (L2) crossed with every failure mode, generated like the read path's matrix
(tests/integration/test_failure_matrix.py): DynamoDB on a real moto server and Redis on a real redis-server,
each refused (a closed port), hung (a socket that accepts and never answers), slow (a proxy that holds each answer
longer than the read timeout), failing (DynamoDB throttled or 500, Redis -ERR) and malformed (an item that is no
cache entry).

Every cell expects the same answer: the page 200 and complete, from the services, and a 50-id batch all 200. The
bound is counted, not timed: the first page makes at most one L2 read per section (in parallel, so it waits one
read timeout at most) and no L2 write after a failed read; the page after it does not ask L2 at all (the store is
skipped for its cool-off); the batch makes at most one L2 read per section for its 50 ids (one round trip per
chunk of up to 100 keys) and each service is called once per chunk. Elapsed times are checked against the page's
deadline only, which a store that cost more than its timeout would run into.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bff.cache.entry import StoreErrorKind, cache_key
from bff.composition import build_app, build_fragment_cache
from bff.downstream.http import create_http_client
from bff.observability.metrics import InvocationRecord
from tests.support.fault_servers import (
    black_hole_port,
    delaying_proxy,
    refusing_port,
    resp_error_server,
    throttling_endpoint,
)
from tests.support.mock_processes import MockProcess
from tests.support.moto_server import MotoServer
from tests.support.recording import recorded_client
from tests.support.redis_server import RedisServer
from tests.support.resilience import NO_HEDGING, requests_seen_by
from tests.support.settings import settings_for

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

TABLE = "FragmentCacheTable"
SECTIONS = ("product", "reviews", "inventory")
# Wide enough for a loaded machine: what is bounded here is counted, and a store that cost more than its timeout
# per key (the batch's 150 reads before) would still show in the counts.
DEADLINE_MS = 1_000
READ_TIMEOUT_MS = 25
# Moto is Python in this process's thread (a healthy read takes 5-20 ms) and the machine may be loaded: the cells
# whose store answers (an error, a malformed item) give their reads room.
HEALTHY_TIMEOUT_MS = 250
SLOW_ANSWER_S = 0.05  # over READ_TIMEOUT_MS
BATCH_IDS = [f"P{index:03d}" for index in range(2, 52)]


@dataclass
class L2Calls:
    """What the L2 saw or reported: errors by kind (from the store's reports), and requests where a fault server
    or the proxy could count them."""

    errors: Counter[StoreErrorKind] = field(default_factory=Counter)
    reads: int | None = None
    writes: int | None = None


@dataclass(frozen=True)
class Fault:
    id: str
    backend: str
    error_kind: StoreErrorKind
    timeout_ms: int = READ_TIMEOUT_MS
    """The L2's read timeout: the production 25 ms where the store is too slow, wider where the row is about the
    store's answer (an error, a malformed item) so that a loaded machine does not turn it into a timeout."""


FAULTS = [
    Fault("dynamodb-refused", "dynamodb", "error", timeout_ms=HEALTHY_TIMEOUT_MS),
    Fault("dynamodb-hung", "dynamodb", "timeout"),
    Fault("dynamodb-slow", "dynamodb", "timeout"),
    Fault("dynamodb-throttled", "dynamodb", "throttled", timeout_ms=HEALTHY_TIMEOUT_MS),
    Fault("dynamodb-500", "dynamodb", "error", timeout_ms=HEALTHY_TIMEOUT_MS),
    Fault("dynamodb-malformed", "dynamodb", "malformed", timeout_ms=HEALTHY_TIMEOUT_MS),
    Fault("redis-refused", "redis", "error", timeout_ms=HEALTHY_TIMEOUT_MS),
    Fault("redis-hung", "redis", "timeout"),
    Fault("redis-slow", "redis", "timeout"),
    Fault("redis-error", "redis", "error", timeout_ms=HEALTHY_TIMEOUT_MS),
    Fault("redis-malformed", "redis", "malformed", timeout_ms=HEALTHY_TIMEOUT_MS),
]


class Counters:
    """Reads and writes as the fault server or proxy in front of the L2 counted them (None: nothing counts)."""

    def __init__(self) -> None:
        self.read: Callable[[], int | None] = lambda: None
        self.write: Callable[[], int | None] = lambda: None

    def snapshot(self) -> tuple[int | None, int | None]:
        return self.read(), self.write()


@contextmanager
def faulty_l2(
    fault: Fault, moto: MotoServer, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, object], Counters]]:
    """The cache settings that point the BFF at the faulty L2, and the counters of what reached it."""
    counters = Counters()
    for name, value in moto.environment().items():
        monkeypatch.setenv(name, value)
    table: dict[str, object] = {"cache_table_name": moto.table_name(TABLE)}
    with ExitStack() as stack:
        match fault.id:
            case "dynamodb-refused" | "redis-refused":
                address = f"127.0.0.1:{stack.enter_context(refusing_port())}"
            case "dynamodb-hung" | "redis-hung":
                address = f"127.0.0.1:{stack.enter_context(black_hole_port())}"
            case "dynamodb-slow" | "redis-slow":
                upstream = int(moto.endpoint_url.rsplit(":", 1)[1]) if fault.backend == "dynamodb" else redis.port
                proxy = stack.enter_context(delaying_proxy(upstream, SLOW_ANSWER_S))
                address = f"127.0.0.1:{proxy.port}"
                read, write = (
                    (b"BatchGetItem", b"BatchWriteItem")
                    if fault.backend == "dynamodb"
                    else (b"$4\r\nMGET\r\n", b"$3\r\nSET\r\n")
                )
                counters.read, counters.write = (lambda: proxy.count(read)), (lambda: proxy.count(write))
            case "dynamodb-throttled" | "dynamodb-500":
                code, status = (
                    ("ProvisionedThroughputExceededException", 400)
                    if fault.id == "dynamodb-throttled"
                    else ("InternalServerError", 500)
                )
                endpoint = stack.enter_context(throttling_endpoint(code, status))
                address = endpoint.url.removeprefix("http://")
                counters.read = lambda: endpoint.requests.count("DynamoDB_20120810.BatchGetItem")
                counters.write = lambda: endpoint.requests.count("DynamoDB_20120810.BatchWriteItem")
            case "redis-error":
                server = stack.enter_context(resp_error_server())
                address = f"127.0.0.1:{server.port}"
                # A read attempt is its MGET, or the handshake (HELLO) of the connection it opened, which fails first
                counters.read = lambda: sum(name in {b"MGET", b"HELLO"} for name in server.commands)
                counters.write = lambda: server.commands.count(b"SET")
            case "dynamodb-malformed":
                moto.reset()
                address = moto.endpoint_url.removeprefix("http://")
                put_malformed_items(moto)
            case "redis-malformed":
                redis.command("FLUSHDB")
                address = f"127.0.0.1:{redis.port}"
                for section in SECTIONS:
                    redis.command("SET", cache_key(section, "P001"), "not a cache entry", "PX", "60000")
            case _:
                raise AssertionError(fault.id)
        if fault.backend == "dynamodb":
            monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://{address}")
            yield table, counters
        else:
            yield {"cache_url": f"redis://{address}/0"}, counters


def put_malformed_items(moto: MotoServer) -> None:
    from tools.local_aws import dynamodb_client  # noqa: PLC0415

    client = dynamodb_client(moto.endpoint_url, "eu-west-1")
    shapes: list[dict[str, Any]] = [{"S": "{not json"}, {"N": "1"}, {"S": '{"v": 1, "s": 500}'}]
    for section, shape in zip(SECTIONS, shapes, strict=True):
        item = {"pk": {"S": cache_key(section, "P001")}, "entry": shape, "expires_at": {"N": "4102444800"}}
        client.put_item(TableName=moto.table_name(TABLE), Item=item)


def error_kinds(record: InvocationRecord) -> Counter[str]:
    """The L2 errors the requests recorded (their CacheErrors), by kind."""
    return Counter(kind for _tier, kind in record.cache_errors)


async def serve(
    urls: dict[str, str], cache: dict[str, object], fault: Fault, record: InvocationRecord, *paths: str
) -> list[httpx.Response]:
    """A fresh app (fresh L1, a new L2 client) serving `paths` one after another, each recording into `record`."""
    settings = settings_for(
        urls,
        page_deadline_ms=DEADLINE_MS,
        cache_l2_timeout_ms=fault.timeout_ms,
        cache_l2_write_timeout_ms=max(fault.timeout_ms, 50),
        **NO_HEDGING,
        **cache,
    )
    cache_tiers = build_fragment_cache(settings)
    warm = getattr(cache_tiers.l2, "warm", None)
    if warm is not None:  # as the handler's init does: the client exists, and a healthy store is connected
        await warm(0.5)
    try:
        async with create_http_client(settings) as downstream:
            app = build_app(settings, downstream, cache_tiers)
            async with recorded_client(app, record) as client:
                responses = []
                for path in paths:
                    started = time.perf_counter()
                    response = await client.get(path)
                    response.extensions["elapsed_s"] = time.perf_counter() - started
                    responses.append(response)
                return responses
    finally:
        close = getattr(cache_tiers.l2, "close", None)
        if close is not None:
            await close()


def calls_by_service(mocks: dict[str, MockProcess]) -> dict[str, int]:
    return {name: requests_seen_by(mocks[name]) for name in SECTIONS}


def assert_complete_page(response: httpx.Response) -> None:
    assert response.status_code == 200
    body = response.json()
    assert body["meta"]["degraded"] == []
    assert all(body[name] is not None for name in SECTIONS)
    assert response.extensions["elapsed_s"] < DEADLINE_MS / 1000


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.id for fault in FAULTS])
async def test_l2_failure_matrix(
    reference_mocks: dict[str, MockProcess],
    moto_server: MotoServer,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
) -> None:
    urls = {name: mock.base_url for name, mock in reference_mocks.items()}
    record = InvocationRecord()
    with faulty_l2(fault, moto_server, redis_server, monkeypatch) as (cache, counters):
        # When a page is served twice, then (by a fresh environment) a batch of 50 ids
        before = calls_by_service(reference_mocks)
        first, second = await serve(urls, cache, fault, record, "/product-details/P001", "/product-details/P001")
        after_pages = calls_by_service(reference_mocks)
        reads_after_pages, writes_after_pages = counters.snapshot()
        page_errors = len(record.cache_errors)
        (batch,) = await serve(urls, cache, fault, record, "/product-details?ids=" + ",".join(BATCH_IDS))
        after_batch = calls_by_service(reference_mocks)
        reads_after_batch, writes_after_batch = counters.snapshot()

    # Then both pages are complete and in time, from the services (once each) and then from L1
    assert_complete_page(first)
    assert_complete_page(second)
    assert {name: after_pages[name] - before[name] for name in SECTIONS} == dict.fromkeys(SECTIONS, 1)
    assert first.headers["server-timing"].count("desc=miss") == 3
    assert second.headers["server-timing"].count("desc=hit") == 3
    # And the batch is 50 x 200, each service called once for the 50 ids (one chunk)
    assert batch.status_code == 200
    assert [item["status"] for item in batch.json()["items"]] == [200] * len(BATCH_IDS)
    assert batch.extensions["elapsed_s"] < DEADLINE_MS / 1000
    assert {name: after_batch[name] - after_pages[name] for name in SECTIONS} == dict.fromkeys(SECTIONS, 1)
    # And the L2 failed as the row says, a bounded number of times
    # (a refusal or an error may come after the read timeout on a loaded machine: then it is a timeout)
    errors = error_kinds(record)
    assert fault.error_kind in errors
    assert set(errors) <= {fault.error_kind, "timeout"}
    if fault.error_kind == "malformed":
        # One report per bad item; a malformed item says nothing of the store's health: the answers overwrite it
        assert page_errors == 3
        assert_entries_repaired(fault, moto_server, redis_server)
        return
    # At most one read per section on the first page (in parallel), none on the second (the cool-off)
    assert 1 <= page_errors <= 3
    # At most one read per section for the batch's 50 ids, and no write after a failed read
    assert 1 <= sum(errors.values()) - page_errors <= 3
    if reads_after_pages is not None and reads_after_batch is not None:
        # (a read the timeout cut before its bytes left, on a loaded machine, is reported but not seen here)
        assert reads_after_pages <= 3
        assert reads_after_batch - reads_after_pages <= 3
        assert (writes_after_pages, writes_after_batch) == (0, 0)


def assert_entries_repaired(fault: Fault, moto: MotoServer, redis: RedisServer) -> None:
    for section in SECTIONS:
        key = cache_key(section, "P001")
        if fault.backend == "dynamodb":
            item = moto.raw_item(TABLE, key)
            assert item is not None
            assert str(item["entry"]).startswith("{'S': '{\"v\"")
        else:
            assert redis.command("GET", key).startswith(b"$")
            assert b'"v"' in redis.command("GET", key)


def test_the_matrix_has_every_fault_for_both_backends() -> None:
    columns = {
        backend: {fault.id.split("-", 1)[1] for fault in FAULTS if fault.backend == backend}
        for backend in ("dynamodb", "redis")
    }
    assert columns["dynamodb"] == {"refused", "hung", "slow", "throttled", "500", "malformed"}
    assert columns["redis"] == {"refused", "hung", "slow", "error", "malformed"}
