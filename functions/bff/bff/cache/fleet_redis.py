"""The fleet's breaker state on Redis or Valkey: one hash holding every service's fields, changed by small Lua
scripts so that each operation is one atomic round trip. The client is the L2's (bff.cache.redis.RedisConnection:
one pool per environment, no retries, the page's deadline as its socket timeouts); every operation here is cut to
the fleet's own `timeout_s`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bff.cache.fleet_state import (
    COUNTERS,
    LEASE,
    SINCE,
    STATE,
    UNTIL,
    FleetStateName,
    ServiceRecord,
    WindowTally,
    field_name,
    parse_records,
)
from bff.cache.redis import RedisConnection

DEFAULT_KEY = "bff:fleet-breaker"

_REPORT = """
local total, repeats
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[4] then
  total = redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[5])
  repeats = redis.call('HINCRBY', KEYS[1], ARGV[3], ARGV[6])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4], ARGV[2], ARGV[5], ARGV[3], ARGV[6])
  total, repeats = tonumber(ARGV[5]), tonumber(ARGV[6])
end
return {total, repeats, redis.call('HGETALL', KEYS[1])}
"""
_TRIP = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'open' then
  redis.call('HSET', KEYS[1], ARGV[1], 'open', ARGV[2], ARGV[5], ARGV[3], ARGV[6])
  redis.call('HDEL', KEYS[1], ARGV[4], ARGV[7], ARGV[8], ARGV[9])
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
  redis.call('HDEL', KEYS[1], ARGV[4], ARGV[8], ARGV[9], ARGV[10])
end
return 1
"""


class RedisFleetStore:
    """A FleetStore in one Redis hash at `key`, over `connection` (the L2's, so that an environment keeps one pool;
    by default one of its own on `url`). Nothing connects before the first operation."""

    def __init__(
        self, url: str, connection: RedisConnection | None = None, *, timeout_s: float = 0.05, key: str = DEFAULT_KEY
    ) -> None:
        self.connection = connection or RedisConnection(url)
        self.timeout_s = timeout_s
        self.key = key

    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        async with asyncio.timeout(timeout_s or self.timeout_s):
            fields = await self.connection.client().hgetall(self.key)
        return parse_records({_text(name): _text(value) for name, value in fields.items()})

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> WindowTally:
        counters = tuple(field_name(service, field) for field in COUNTERS)
        result = await self._run(_REPORT, (*counters, str(window), str(failures), str(repeats)))
        total, repeated, flat = result if isinstance(result, list) else (0, 0, [])
        return WindowTally(int(total), int(repeated), _pairs(flat))

    async def trip(self, service: str, now: float, until: float) -> dict[str, ServiceRecord]:
        names = tuple(field_name(service, field) for field in (STATE, SINCE, UNTIL, LEASE))
        counters = tuple(field_name(service, field) for field in COUNTERS)
        return _pairs(await self._run(_TRIP, (*names, repr(now), repr(until), *counters)))

    async def take_lease(self, service: str, now: float, lease_until: float) -> bool:
        names = tuple(field_name(service, field) for field in (STATE, UNTIL, LEASE))
        return bool(await self._run(_TAKE_LEASE, (*names, repr(now), repr(lease_until))))

    async def settle_probe(self, service: str, verdict: FleetStateName, now: float, until: float) -> None:
        names = tuple(field_name(service, field) for field in (STATE, SINCE, UNTIL, LEASE))
        counters = tuple(field_name(service, field) for field in COUNTERS)
        await self._run(_SETTLE, (*names, verdict, repr(now), repr(until), *counters))

    async def close(self) -> None:
        """Closes the pool (shared with the L2, which closes it too: both reopen on first use)."""
        await self.connection.close()

    async def _run(self, script: str, args: Sequence[str]) -> object:
        # EVAL sends the script each time: a few hundred bytes, and no NOSCRIPT round trip after a failover.
        async with asyncio.timeout(self.timeout_s):
            return await self.connection.client().eval(script, 1, self.key, *args)


def _pairs(flat: object) -> dict[str, ServiceRecord]:
    items = list(flat) if isinstance(flat, list) else []
    return parse_records({_text(name): _text(value) for name, value in zip(items[::2], items[1::2], strict=True)})


def _text(value: object) -> str:
    """The L2's pool answers bytes; the fleet's fields are ASCII."""
    return value.decode() if isinstance(value, bytes) else str(value)
