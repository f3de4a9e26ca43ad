"""The fleet's shared breaker state, as the shared store keeps it: one record for every service, read in one go.

A service with no entry is closed. An entry is either `open` (no call until `until`; then one probe, by the
environment holding the probe lease) or `ramp` (a probe succeeded at `since`; a growing share of calls goes through
until `until`, when the service is closed again). Failures are counted per service in fixed windows, twice: every
failure (`fails`), and the failures that continue an environment's streak (`repeats`).

The record is flat (`{service}_st`, `{service}_since`, ...), so that DynamoDB's conditional updates and Redis's
scripts change one service's fields without reading the others. This module holds the layout and a store in memory
with the same conditions as the Redis and DynamoDB ones (bff.cache.fleet_redis, bff.cache.fleet_dynamodb).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

type FleetStateName = Literal["open", "ramp"]

STATE = "st"
SINCE = "since"
UNTIL = "until"
LEASE = "lease"
WINDOW = "win"
FAILURES = "fails"
REPEATS = "repeats"
FIELDS = (STATE, SINCE, UNTIL, LEASE, WINDOW, FAILURES, REPEATS)
COUNTERS = (WINDOW, FAILURES, REPEATS)


def field_name(service: str, field: str) -> str:
    return f"{service}_{field}"


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """One service's shared state; `lease_until` is when the current probe's lease lapses (0 when none)."""

    state: FleetStateName
    since: float
    until: float
    lease_until: float = 0.0

    def is_open(self, now: float) -> bool:
        return self.state == "open" and now < self.until

    def is_half_open(self, now: float) -> bool:
        return self.state == "open" and now >= self.until

    def is_ramping(self, now: float) -> bool:
        return self.state == "ramp" and now < self.until

    def is_closed(self, now: float) -> bool:
        return self.state == "ramp" and now >= self.until

    def lease_free(self, now: float) -> bool:
        return self.lease_until <= now


type FleetRecords = Mapping[str, ServiceRecord]


@dataclass(frozen=True, slots=True)
class WindowTally:
    """A failure report's answer: the window's totals for the service after the report, and every record."""

    failures: int
    repeats: int
    records: dict[str, ServiceRecord]


def parse_records(fields: Mapping[str, str]) -> dict[str, ServiceRecord]:
    """Every service's record from the flat fields; a service whose fields are missing or malformed is closed
    (a garbled record must never keep a healthy service shut)."""
    records: dict[str, ServiceRecord] = {}
    for name, value in fields.items():
        service, _, field = name.rpartition("_")
        if field != STATE or value not in ("open", "ramp"):
            continue
        try:
            since = float(fields[field_name(service, SINCE)])
            until = float(fields[field_name(service, UNTIL)])
            lease = float(fields.get(field_name(service, LEASE)) or 0.0)
        except (KeyError, ValueError):
            continue
        records[service] = ServiceRecord("open" if value == "open" else "ramp", since, until, lease)
    return records


class StoreBusyError(Exception):
    """The store throttled a write: DynamoDB takes at most 1,000 writes a second on one item, and a large fleet's
    first failures all report within a fraction of a second. Reads (3,000 read units a second on the item, half a
    unit each) still pass."""


class FleetStore(Protocol):
    """The shared store's five operations, each one round trip, bounded by the store's own timeout; any error
    raises (the caller falls back to its local breaker), a throttled write as StoreBusyError."""

    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        """Every service's record; `timeout_s` replaces the store's own timeout (a first read, during init, also
        creates the client and connects)."""
        ...

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> WindowTally:
        """Adds `failures` (of which `repeats` continued a streak) to the service's counters for fixed window number
        `window` (a later window starts again from these); returns the window's totals and every record."""
        ...

    async def trip(self, service: str, now: float, until: float) -> dict[str, ServiceRecord]:
        """Opens the service until `until`, unless it is open already, and restarts its failure count; returns
        every record."""
        ...

    async def take_lease(self, service: str, now: float, lease_until: float) -> bool:
        """Takes the probe lease when the service is half-open (open, `until` passed) and no lease is live."""
        ...

    async def settle_probe(self, service: str, verdict: FleetStateName, now: float, until: float) -> None:
        """The probe's verdict: `ramp` (it answered) or `open` again (it failed), both until `until`; drops the
        lease and restarts the failure count. Only while the service is still open, so a late verdict cannot undo a
        newer state."""
        ...

    async def close(self) -> None: ...


class MemoryFleetStore:
    """The store's conditions in memory, for unit tests and as their reference."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        del timeout_s
        return parse_records(self.fields)

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> WindowTally:
        window_field, failures_field, repeats_field = (field_name(service, name) for name in COUNTERS)
        same = self.fields.get(window_field) == str(window)
        total = int(self.fields[failures_field]) + failures if same else failures
        repeated = int(self.fields.get(repeats_field, "0")) + repeats if same else repeats
        self.fields[window_field], self.fields[failures_field] = str(window), str(total)
        self.fields[repeats_field] = str(repeated)
        return WindowTally(total, repeated, parse_records(self.fields))

    async def trip(self, service: str, now: float, until: float) -> dict[str, ServiceRecord]:
        if self.fields.get(field_name(service, STATE)) != "open":
            self._set(service, "open", now, until)
        return parse_records(self.fields)

    async def take_lease(self, service: str, now: float, lease_until: float) -> bool:
        record = parse_records(self.fields).get(service)
        if record is None or not record.is_half_open(now) or not record.lease_free(now):
            return False
        self.fields[field_name(service, LEASE)] = repr(lease_until)
        return True

    async def settle_probe(self, service: str, verdict: FleetStateName, now: float, until: float) -> None:
        if self.fields.get(field_name(service, STATE)) == "open":
            self._set(service, verdict, now, until)

    async def close(self) -> None:
        return None

    def _set(self, service: str, state: str, since: float, until: float) -> None:
        self.fields[field_name(service, STATE)] = state
        self.fields[field_name(service, SINCE)] = repr(since)
        self.fields[field_name(service, UNTIL)] = repr(until)
        for field in (LEASE, *COUNTERS):
            self.fields.pop(field_name(service, field), None)
