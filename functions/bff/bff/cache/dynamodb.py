"""L2 on DynamoDB through aiobotocore: one long-lived client per environment, tight timeouts, batched calls, and
every failure a miss.

Item: `pk` (S) the cache key, `entry` (S) the entry's JSON, `expires_at` (N) the table's TTL attribute (the
entry's stale_until). DynamoDB deletes expired items up to days late, so expiry is checked on every read.

Reads are BatchGetItem (up to 100 keys a call), writes BatchWriteItem (up to 25 items a call); the calls of one
read or one write run in parallel under one timeout. Keys DynamoDB throttled come back in UnprocessedKeys (or
UnprocessedItems), not as an error: they are misses (or lost writes) reported as throttled, never retried.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from bff.cache.entry import (
    CacheEntry,
    Clock,
    OnStoreError,
    StoreErrorKind,
    decode_entries,
    dumps,
    ignore_store_error,
    is_usable_stale,
)
from bff.cache.outage import Outage
from bff.core.batch import chunks

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
BATCH_GET_MAX_KEYS = 100
BATCH_WRITE_MAX_ITEMS = 25
# The sockets' own bounds when none are given: the default page deadline (PAGE_DEADLINE_MS), so that no wait on a
# socket outlives a page even where a caller's bound failed to apply.
DEFAULT_SOCKET_TIMEOUT_S = 0.5


class DynamoDbConnection:
    """One aiobotocore DynamoDB client for the execution environment, for everything the BFF keeps in DynamoDB's
    L2 (the fragment cache, and whatever else shares its endpoint).

    Its socket timeouts (connect, read) are the ceiling of any call: the page's deadline, which also leaves the
    init-time warm-up room to open a connection. Each call is bounded more tightly by its caller, to the L2's own
    timeout and what is left of the request's deadline. botocore makes `max_attempts` attempts in all (1: no
    retry, since a retry could never fit in a read's timeout and a throttle must reach the caller at once). The
    endpoint comes from botocore's own configuration (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`) unless
    `endpoint_url` is given. The client belongs to the event loop that first used it (the handler's pinned loop)."""

    def __init__(
        self,
        *,
        connect_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S,
        max_attempts: int = 1,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.config = AioConfig(
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            tcp_keepalive=True,
        )
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._exit_stack = AsyncExitStack()
        self._client_task: asyncio.Task[DynamoDBClient] | None = None

    async def client(self) -> DynamoDBClient:
        # The client is created once, in the running loop, by a task that a read's timeout does not cancel:
        # a cold start's first reads may miss, but the client is ready for the ones that follow.
        if self._client_task is None or _failed(self._client_task):
            self._client_task = asyncio.get_running_loop().create_task(self._create_client())
            self._client_task.add_done_callback(_failed)
        return await asyncio.shield(self._client_task)

    async def close(self) -> None:
        if self._client_task is not None and not self._client_task.done():
            self._client_task.cancel()
        self._client_task = None
        await self._exit_stack.aclose()

    async def _create_client(self) -> DynamoDBClient:
        creator = get_session().create_client(
            "dynamodb", region_name=self._region_name, endpoint_url=self._endpoint_url, config=self.config
        )
        return await self._exit_stack.enter_async_context(creator)


class DynamoDbStore:
    """A FragmentStore on one table, over `connection` (by default one of its own)."""

    def __init__(
        self,
        table_name: str,
        connection: DynamoDbConnection | None = None,
        *,
        get_timeout_s: float = 0.025,
        put_timeout_s: float = 0.05,
        cool_off_s: float = 1.0,
        clock: Clock = time.time,
    ) -> None:
        self.table_name = table_name
        self.get_timeout_s = get_timeout_s
        self.put_timeout_s = put_timeout_s
        self.connection = connection or DynamoDbConnection()
        self.outage = Outage(cool_off_s)
        self._clock = clock

    async def get_many(
        self, keys: Sequence[str], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> dict[str, CacheEntry]:
        unique = list(dict.fromkeys(keys))
        timeout_s = min(self.get_timeout_s, within_s)
        if not unique or timeout_s <= 0 or not self.outage.allows_calls():
            return {}
        try:
            async with asyncio.timeout(timeout_s):
                client = await self.connection.client()
                answers = await asyncio.gather(
                    *(self._get_chunk(client, chunk) for chunk in chunks(unique, BATCH_GET_MAX_KEYS))
                )
        except Exception as error:  # the cache never fails a page: any failure is a miss
            self._report(classify(error), on_error)
            return {}
        raw: dict[str, str | bytes | None] = {}
        for items, throttled in answers:
            raw.update(items)
            if throttled:
                self._report("throttled", on_error)
        entries, malformed = decode_entries(raw, self._clock())
        for _ in range(malformed):
            self._report("malformed", on_error)
        return entries

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        now = self._clock()
        items = [_item(key, entry) for key, entry in entries.items() if is_usable_stale(entry, now)]
        timeout_s = min(self.put_timeout_s, within_s)
        if not items or timeout_s <= 0 or not self.outage.allows_calls():
            return
        try:
            async with asyncio.timeout(timeout_s):
                client = await self.connection.client()
                unprocessed = await asyncio.gather(
                    *(self._put_chunk(client, chunk) for chunk in chunks(items, BATCH_WRITE_MAX_ITEMS))
                )
        except Exception as error:  # a lost write only costs a later miss
            self._report(classify(error), on_error)
            return
        if any(unprocessed):
            self._report("throttled", on_error)

    async def open(self) -> None:
        """Creates the client now (e.g. during init) instead of on the first read."""
        await self.connection.client()

    async def warm(self, timeout_s: float = 2.0) -> bool:
        """Creates the client and pays its first request's costs (credentials, endpoint, connection) now, e.g.
        during init: a new client's first call takes far longer than a read's timeout. True when it answered."""
        try:
            async with asyncio.timeout(timeout_s):
                client = await self.connection.client()
                await client.get_item(TableName=self.table_name, Key={"pk": {"S": "warm-up"}})
        except Exception:  # a failure here is the first read's to report
            return False
        return True

    async def close(self) -> None:
        await self.connection.close()

    async def _get_chunk(self, client: DynamoDBClient, keys: list[str]) -> tuple[dict[str, str], bool]:
        """The chunk's items (key to the entry's text; "" for an item without one, which is then malformed) and
        whether DynamoDB throttled some of its keys."""
        answer = await client.batch_get_item(
            RequestItems={
                self.table_name: {
                    "Keys": [{"pk": {"S": key}} for key in keys],
                    "ProjectionExpression": "pk, #e",
                    "ExpressionAttributeNames": {"#e": "entry"},
                }
            }
        )
        found: dict[str, str] = {}
        for item in answer.get("Responses", {}).get(self.table_name, []):
            key = item.get("pk", {}).get("S")
            if isinstance(key, str):
                found[key] = item.get("entry", {}).get("S", "")
        return found, bool(answer.get("UnprocessedKeys"))

    async def _put_chunk(self, client: DynamoDBClient, items: list[dict[str, Any]]) -> bool:
        """Writes the chunk; True when DynamoDB left some of it unprocessed (throttled)."""
        answer = await client.batch_write_item(
            RequestItems={self.table_name: [{"PutRequest": {"Item": item}} for item in items]}
        )
        return bool(answer.get("UnprocessedItems"))

    def _report(self, kind: StoreErrorKind, on_error: OnStoreError) -> None:
        self.outage.record(kind)
        on_error(kind)


def _item(key: str, entry: CacheEntry) -> dict[str, Any]:
    return {"pk": {"S": key}, "entry": {"S": dumps(entry)}, "expires_at": {"N": str(math.ceil(entry.stale_until))}}


def _failed(task: asyncio.Task[DynamoDBClient]) -> bool:
    """Whether the task ended without a client; retrieving its exception also keeps asyncio from logging it."""
    return task.done() and (task.cancelled() or task.exception() is not None)


def classify(error: BaseException) -> StoreErrorKind:
    if isinstance(error, TimeoutError | ReadTimeoutError | ConnectTimeoutError):
        return "timeout"
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in THROTTLING_CODES:
        return "throttled"
    return "error"
