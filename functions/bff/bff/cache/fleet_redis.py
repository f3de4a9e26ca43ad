"""The fleet's breaker state on Redis or Valkey: one hash holding every service's fields, changed by small Lua
scripts so that each operation is one atomic round trip. The client is the L2 cache's kind (redis-py asyncio, no
retries, second-scale socket timeouts) and every operation is also cut to `timeout_s`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bff.cache.fleet_state import (
    FAILURES,
    LEASE,
    SINCE,
    STATE,
    UNTIL,
    WINDOW,
    FleetStateName,
    ServiceRecord,
    field_name,
    parse_records,
)

DEFAULT_KEY = "bff:fleet-breaker"

_REPORT = """
local total
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[3] then
  total = redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[4])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3], ARGV[2], ARGV[4])
  total = tonumber(ARGV[4])
end
return {total, redis.call('HGETALL', KEYS[1])}
"""
_TRIP = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'open' then
  redis.call('HSET', KEYS[1], ARGV[1], 'open', ARGV[2], ARGV[5], ARGV[3], ARGV[6])
  redis.call('HDEL', KEYS[1], ARGV[4], ARGV[7], ARGV[8])
end
return redis.call('HGETALL', KEYS[1])
"""
_TAKE_LEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'open' then return 0 end
local now = tonumber(ARGV[4])
if now < tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0') then return 0 end
if tonumber(redis.call('HGET', KEYS[1], ARGV[3]) or '0') > now then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[5])
return 1
"""
_SETTLE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == 'open' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[5], ARGV[2], ARGV[6], ARGV[3], ARGV[7])
  redis.call('HDEL', KEYS[1], ARGV[4], ARGV[8], ARGV[9])
end
return 1
"""


class RedisFleetStore:
    """A FleetStore in one Redis hash at `key`; the client is created lazily in the running loop."""

    def __init__(self, url: str, *, timeout_s: float = 0.05, key: str = DEFAULT_KEY) -> None:
        if not url.startswith(("redis://", "rediss://")):
            raise ValueError("CACHE_URL must start with redis:// or rediss://")
        self.url = url
        self.timeout_s = timeout_s
        self.key = key
        self._redis: Redis | None = None

    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        async with asyncio.timeout(timeout_s or self.timeout_s):
            fields = await self._client().hgetall(self.key)
        return parse_records({str(name): str(value) for name, value in fields.items()})

    async def report_failures(self, service: str, count: int, window: int) -> tuple[int, dict[str, ServiceRecord]]:
        args = (field_name(service, WINDOW), field_name(service, FAILURES), str(window), str(count))
        result = await self._run(_REPORT, args)
        total, flat = result if isinstance(result, list) else (0, [])
        return int(total), _pairs(flat)

    async def trip(self, service: str, now: float, until: float) -> dict[str, ServiceRecord]:
        names = tuple(field_name(service, field) for field in (STATE, SINCE, UNTIL, LEASE))
        counter = (field_name(service, WINDOW), field_name(service, FAILURES))
        return _pairs(await self._run(_TRIP, (*names, repr(now), repr(until), *counter)))

    async def take_lease(self, service: str, now: float, lease_until: float) -> bool:
        names = tuple(field_name(service, field) for field in (STATE, UNTIL, LEASE))
        return bool(await self._run(_TAKE_LEASE, (*names, repr(now), repr(lease_until))))

    async def settle_probe(self, service: str, verdict: FleetStateName, now: float, until: float) -> None:
        names = tuple(field_name(service, field) for field in (STATE, SINCE, UNTIL, LEASE))
        counter = (field_name(service, WINDOW), field_name(service, FAILURES))
        await self._run(_SETTLE, (*names, verdict, repr(now), repr(until), *counter))

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _run(self, script: str, args: Sequence[str]) -> object:
        # EVAL sends the script each time: a few hundred bytes, and no NOSCRIPT round trip after a failover.
        async with asyncio.timeout(self.timeout_s):
            return await self._client().eval(script, 1, self.key, *args)

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(
                self.url,
                retry=Retry(NoBackoff(), 0),
                socket_connect_timeout=1,
                socket_timeout=2,
                socket_keepalive=True,
                health_check_interval=30,
                decode_responses=True,
            )
        return self._redis


def _pairs(flat: object) -> dict[str, ServiceRecord]:
    items = list(flat) if isinstance(flat, list) else []
    return parse_records({str(name): str(value) for name, value in zip(items[::2], items[1::2], strict=True)})
