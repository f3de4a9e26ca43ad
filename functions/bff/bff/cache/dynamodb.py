"""L2 on DynamoDB through aiobotocore: one long-lived client, tight timeouts, and every failure a miss.

Item: `pk` (S) the cache key, `entry` (S) the entry's JSON, `expires_at` (N) the table's TTL attribute (the
entry's stale_until). DynamoDB deletes expired items up to days late, so expiry is checked on every read.
"""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from bff.cache.entry import CacheEntry, Clock, OnStoreError, StoreErrorKind, dumps, is_usable_stale, loads

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})


def _ignore_error(kind: StoreErrorKind) -> None:
    del kind


class DynamoDbStore:
    """A FragmentStore on one table. The endpoint comes from botocore's own configuration
    (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`) unless `endpoint_url` is given. Its client belongs to the
    event loop that first used it (the handler's pinned loop); botocore's retries are off, since a retry could
    never fit in a read's timeout and a throttle must reach `on_error` at once."""

    def __init__(
        self,
        table_name: str,
        *,
        get_timeout_s: float = 0.025,
        put_timeout_s: float = 0.1,
        on_error: OnStoreError = _ignore_error,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.table_name = table_name
        self.get_timeout_s = get_timeout_s
        self.put_timeout_s = put_timeout_s
        self._on_error = on_error
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._clock = clock
        self._exit_stack = AsyncExitStack()
        self._client_task: asyncio.Task[DynamoDBClient] | None = None

    async def get(self, key: str) -> CacheEntry | None:
        try:
            async with asyncio.timeout(self.get_timeout_s):
                client = await self._client()
                response = await client.get_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": key}},
                    ProjectionExpression="#e",
                    ExpressionAttributeNames={"#e": "entry"},
                )
        except Exception as error:  # the cache never fails a page: any failure is a miss
            self._report(error)
            return None
        text = response.get("Item", {}).get("entry", {}).get("S")
        if text is None:
            return None
        try:
            entry = loads(text)
        except ValueError:
            return None
        return entry if is_usable_stale(entry, self._clock()) else None

    async def put(self, key: str, entry: CacheEntry) -> None:
        if not is_usable_stale(entry, self._clock()):
            return
        item = {"pk": {"S": key}, "entry": {"S": dumps(entry)}, "expires_at": {"N": str(math.ceil(entry.stale_until))}}
        try:
            async with asyncio.timeout(self.put_timeout_s):
                client = await self._client()
                await client.put_item(TableName=self.table_name, Item=item)
        except Exception as error:  # a lost write only costs a later miss
            self._report(error)

    async def open(self) -> None:
        """Creates the client now (e.g. during init) instead of on the first read."""
        await self._client()

    async def warm(self, timeout_s: float = 2.0) -> bool:
        """Creates the client and pays its first request's costs (credentials, endpoint, connection) now, e.g.
        during init: a new client's first call takes far longer than a read's timeout. True when it answered."""
        try:
            async with asyncio.timeout(timeout_s):
                client = await self._client()
                await client.get_item(TableName=self.table_name, Key={"pk": {"S": "warm-up"}})
        except Exception:  # a failure here is the first read's to report
            return False
        return True

    async def close(self) -> None:
        if self._client_task is not None and not self._client_task.done():
            self._client_task.cancel()
        self._client_task = None
        await self._exit_stack.aclose()

    async def _client(self) -> DynamoDBClient:
        # The client is created once, in the running loop, by a task that a read's timeout does not cancel:
        # a cold start's first reads may miss, but the client is ready for the ones that follow.
        if self._client_task is None or _failed(self._client_task):
            self._client_task = asyncio.get_running_loop().create_task(self._create_client())
            self._client_task.add_done_callback(_failed)
        return await asyncio.shield(self._client_task)

    async def _create_client(self) -> DynamoDBClient:
        config = AioConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=1,
            read_timeout=2,
            tcp_keepalive=True,
        )
        creator = get_session().create_client(
            "dynamodb", region_name=self._region_name, endpoint_url=self._endpoint_url, config=config
        )
        return await self._exit_stack.enter_async_context(creator)

    def _report(self, error: Exception) -> None:
        self._on_error(classify(error))


def _failed(task: asyncio.Task[DynamoDBClient]) -> bool:
    """Whether the task ended without a client; retrieving its exception also keeps asyncio from logging it."""
    return task.done() and (task.cancelled() or task.exception() is not None)


def classify(error: BaseException) -> StoreErrorKind:
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in THROTTLING_CODES:
        return "throttled"
    return "error"
