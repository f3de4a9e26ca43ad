"""L2 on Redis or Valkey (e.g. ElastiCache) through redis-py's asyncio client, with the DynamoDB store's rules:
tight timeouts, no retries, one round trip per read or write, and every failure a miss reported to the call's
`on_error`.

Keys are the cache keys, values the entry's JSON, expiring (PX) at the entry's stale_until. A read is one MGET; a
write is one pipeline of SET ... PX (no transaction: each entry stands alone), sent in one round trip.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import TimeoutError as RedisTimeoutError

from bff.cache.entry import CacheEntry, Clock, OnStoreError, StoreErrorKind, decode_entries, dumps, ignore_store_error
from bff.cache.outage import Outage

# As for DynamoDB (bff.cache.dynamodb): the default page deadline, the ceiling of any wait on a socket.
DEFAULT_SOCKET_TIMEOUT_S = 0.5


class RedisConnection:
    """One redis-py client (and its pool) for the execution environment, for everything the BFF keeps in the
    Redis L2. Its connect and socket timeouts are the ceiling of any call (the page's deadline), it never retries
    a command, and each call is bounded more tightly by its caller, to the L2's own timeout and what is left of
    the request's deadline. Creating it opens nothing; its pool connects on first use, inside the running loop."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S,
    ) -> None:
        if not url.startswith(("redis://", "rediss://")):
            raise ValueError("CACHE_URL must start with redis:// or rediss://")
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._redis: Redis | None = None

    def client(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(
                self.url,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
                socket_connect_timeout=self.connect_timeout_s,
                socket_timeout=self.read_timeout_s,
                socket_keepalive=True,
                health_check_interval=30,
            )
        return self._redis

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


class RedisStore:
    """A FragmentStore on `redis://` or `rediss://` (TLS) `url`, over `connection` (by default one of its own on
    `url`)."""

    def __init__(
        self,
        url: str,
        connection: RedisConnection | None = None,
        *,
        get_timeout_s: float = 0.025,
        put_timeout_s: float = 0.05,
        cool_off_s: float = 1.0,
        clock: Clock = time.time,
    ) -> None:
        self.get_timeout_s = get_timeout_s
        self.put_timeout_s = put_timeout_s
        self.connection = connection or RedisConnection(url)
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
                values: list[bytes | str | None] = await self.connection.client().mget(unique)
        except Exception as error:  # the cache never fails a page: any failure is a miss
            self._report(classify(error), on_error)
            return {}
        entries, malformed = decode_entries(dict(zip(unique, values, strict=True)), self._clock())
        for _ in range(malformed):
            self._report("malformed", on_error)
        return entries

    async def put_many(
        self, entries: Mapping[str, CacheEntry], within_s: float, on_error: OnStoreError = ignore_store_error
    ) -> None:
        now = self._clock()
        expiring = {key: math.ceil((entry.stale_until - now) * 1000) for key, entry in entries.items()}
        writes = [(key, dumps(entries[key]), px) for key, px in expiring.items() if px > 0]
        timeout_s = min(self.put_timeout_s, within_s)
        if not writes or timeout_s <= 0 or not self.outage.allows_calls():
            return
        try:
            async with asyncio.timeout(timeout_s):
                pipeline = self.connection.client().pipeline(transaction=False)
                for key, text, px in writes:
                    pipeline.set(key, text, px=px)
                await pipeline.execute()
        except Exception as error:  # a lost write only costs a later miss
            self._report(classify(error), on_error)

    async def open(self) -> None:
        """Creates the client now; it connects on its first command."""
        self.connection.client()

    async def warm(self, timeout_s: float = 2.0) -> bool:
        """Opens a connection now (e.g. during init), so that the first read does not pay for it."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.connection.client().ping()
        except Exception:  # a failure here is the first read's to report
            return False
        return True

    async def close(self) -> None:
        await self.connection.close()

    def _report(self, kind: StoreErrorKind, on_error: OnStoreError) -> None:
        self.outage.record(kind)
        on_error(kind)


def classify(error: BaseException) -> StoreErrorKind:
    """Redis has no throttling: a failure is a timeout (ours or the socket's) or an error."""
    return "timeout" if isinstance(error, TimeoutError | RedisTimeoutError) else "error"
