"""L2 on Redis or Valkey (e.g. ElastiCache) through redis-py's asyncio client, with the DynamoDB store's rules:
tight timeouts, no retries, and every failure a miss reported through `on_error`.

Keys are the cache keys, values the entry's JSON, expiring (PX) at the entry's stale_until.
"""

from __future__ import annotations

import asyncio
import math
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import TimeoutError as RedisTimeoutError

from bff.cache.entry import CacheEntry, Clock, OnStoreError, StoreErrorKind, dumps, is_usable_stale, loads


def _ignore_error(kind: StoreErrorKind) -> None:
    del kind


class RedisStore:
    """A FragmentStore on `redis://` or `rediss://` (TLS) `url`; the client is created lazily in the running loop."""

    def __init__(
        self,
        url: str,
        *,
        get_timeout_s: float = 0.025,
        put_timeout_s: float = 0.1,
        on_error: OnStoreError = _ignore_error,
        clock: Clock = time.time,
    ) -> None:
        if not url.startswith(("redis://", "rediss://")):
            raise ValueError("CACHE_URL must start with redis:// or rediss://")
        self.url = url
        self.get_timeout_s = get_timeout_s
        self.put_timeout_s = put_timeout_s
        self._on_error = on_error
        self._clock = clock
        self._redis: Redis | None = None

    async def get(self, key: str) -> CacheEntry | None:
        try:
            async with asyncio.timeout(self.get_timeout_s):
                raw: bytes | str | None = await self._client().get(key)
        except Exception as error:  # the cache never fails a page: any failure is a miss
            self._on_error(classify(error))
            return None
        if raw is None:
            return None
        try:
            entry = loads(raw)
        except ValueError:
            return None
        return entry if is_usable_stale(entry, self._clock()) else None

    async def put(self, key: str, entry: CacheEntry) -> None:
        expires_in_ms = math.ceil((entry.stale_until - self._clock()) * 1000)
        if expires_in_ms <= 0:
            return
        try:
            async with asyncio.timeout(self.put_timeout_s):
                await self._client().set(key, dumps(entry), px=expires_in_ms)
        except Exception as error:  # a lost write only costs a later miss
            self._on_error(classify(error))

    async def open(self) -> None:
        """Creates the client now; it connects on its first command."""
        self._client()

    async def warm(self, timeout_s: float = 2.0) -> bool:
        """Opens a connection now (e.g. during init), so that the first read does not pay for it."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._client().ping()
        except Exception:  # a failure here is the first read's to report
            return False
        return True

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def _client(self) -> Redis:
        # Creating the client opens nothing; its pool connects on first use, inside the running loop.
        if self._redis is None:
            self._redis = Redis.from_url(
                self.url,
                retry=Retry(NoBackoff(), 0),
                socket_connect_timeout=1,
                socket_timeout=2,
                socket_keepalive=True,
                health_check_interval=30,
            )
        return self._redis


def classify(error: BaseException) -> StoreErrorKind:
    """Redis has no throttling: a failure is a timeout (ours or the socket's) or an error."""
    return "timeout" if isinstance(error, TimeoutError | RedisTimeoutError) else "error"
