"""A fleet of Lambda environments against a dead reviews service, then a recovered one: today's per-environment
breaker beside the fleet's shared breaker, on a real redis-server and a real moto DynamoDB server; and the shared
breaker against a healthy service that fails a share of its calls at random (noise), which must never trip it.

Each environment is the project's own breaker objects (a CircuitBreaker, and for the shared breaker a FleetBreakers
copy over a real store client); the environments share one client per store, as they would share the store. Time
is virtual: every environment serves 5 pages a second (intervals drawn from 0.16-0.24 s), one reviews call a page,
no retries or hedges. A dead call fails after 0.1 s (a short call timeout, so that an environment, which serves one
request at a time, never has two pages in flight); a recovered one answers in 0.08 s, and a noisy failure comes
after 0.08 s too. As in production, a page decides on its call with the copy it has, and the copy's sync (when
due, or when a probe's call ended) starts beside it: every sync due in the same 10 ms of virtual time runs
concurrently against the real store, and the clock waits for them. Each store operation is modelled to take
STORE_LATENCY_S (5 ms) of the page's time, and a sync is cut off, as the request path cuts it, when its page's
response is ready: an operation whose answer would come after the response is not sent, and the sync ends there
(what it had not sent stays pending).
A failure's report goes at the environment's next page's start, whose sync has the page's length; a probe's verdict
is sent at once, with PAGE_TAIL_S (1 ms) before the response, so it is cut and sent at the next page's start too. A
page whose environment has reports pending or wants a recheck (its last report left the service closed) reads the
record at its start and decides its call 10 ms later, as it would after its L2 read.

Outage rows: healthy for 30 s, reviews dead for 3 minutes, recovered for 20 s; calls to the dead service are
counted per minute, beside the physical lower bound of the first minute (the calls the fleet sends while the first
failure cannot exist yet: fleet rate x a dead call's failure time). Noise rows: 2 minutes of a healthy service failing
0.1 % or 1 % of calls. At 1,000 environments a row runs the Redis store behind DynamoDB's limits on one item
(ItemLimitedStore). `--read-with-l2` adds a row where each page also reads the fleet's record with its L2 read.
Run alone with `.venv/bin/python -m bench.fleet [--environments 100,1000] [--out FILE] [--chart FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import dataclasses
import functools
import heapq
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from bff.cache.dynamodb import DynamoDbConnection
from bff.cache.fleet_dynamodb import DynamoDbFleetStore
from bff.cache.fleet_redis import RedisFleetStore
from bff.cache.fleet_state import FleetStore, StoreBusyError
from bff.composition import build_app
from bff.config.services import SERVICES
from bff.downstream.http import create_http_client
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.fleet_breaker import FleetBreaker, FleetBreakers, FleetPolicy
from tests.support.fake_downstream import FakeDownstream
from tests.support.fault_servers import black_hole_port, delaying_proxy, refusing_port
from tests.support.mock_processes import free_port, stop_process
from tests.support.redis_server import require_redis_server, running_redis_server
from tests.support.settings import settings_for
from tools.local_aws import LOCAL_CREDENTIALS, create_tables

SERVICE = "reviews"
PAGES_PER_S = 5.0
FAIL_AFTER_S, ANSWER_AFTER_S = 0.1, 0.08
SLICE_S = 0.01
START = 2_000_000_000.0  # the virtual clock's epoch: far from any real record
STORE_TIMEOUT_S = 0.5  # loopback servers shared by a whole simulated fleet: generous, and errors are counted
# moto answers about a hundred operations a second, one at a time, where DynamoDB serves a fleet's concurrent
# requests in milliseconds each: a slice's burst of a thousand reports would time out against moto alone. Virtual
# time stands still while a slice's syncs run, so a longer wait changes no simulated figure, only the wall time.
MOTO_TIMEOUT_S = 30.0
REGION = "eu-west-1"
POLICY = FleetPolicy()
ITEM_LIMITED = "shared (redis, with DynamoDB's limits on one item)"
SUBJECT_STYLES: dict[str, dict[str, Any]] = {
    "per-environment (today)": {"color": "tab:red"},
    "shared, store down": {"color": "tab:orange", "linestyle": "--"},
    "shared (redis)": {"color": "tab:blue"},
    "shared (dynamodb)": {"color": "tab:green", "linestyle": ":"},
    "shared (redis), read with every L2 read": {"color": "tab:purple", "linestyle": "-."},
    ITEM_LIMITED: {"color": "tab:olive", "linestyle": "--"},
}
NOISE_SHARES = (0.001, 0.01)


@dataclass(frozen=True, slots=True)
class Scenario:
    """The service's phases in virtual seconds, and the share of its calls that fail while it is up."""

    healthy_s: float
    dead_s: float
    recovered_s: float
    noise: float = 0.0

    @property
    def dead_at(self) -> float:
        return self.healthy_s

    @property
    def recovered_at(self) -> float:
        return self.healthy_s + self.dead_s

    @property
    def end(self) -> float:
        return self.healthy_s + self.dead_s + self.recovered_s

    def is_dead(self, at: float) -> bool:
        return self.dead_at <= at < self.recovered_at


OUTAGE = Scenario(30.0, 180.0, 20.0)
PAGE_SERVICE_DELAY_S = 0.02
STORE_LATENCY_S = 0.005  # a fleet-store operation's modelled answer time (DynamoDB single-digit ms; Redis less)
PAGE_TAIL_S = 0.001  # from a page's last answer to its response
# What is left of the running sync's page before its response (None: no page, e.g. the init read).
_PAGE_TIME_LEFT: contextvars.ContextVar[float | None] = contextvars.ContextVar("page_time_left", default=None)

type Kind = str  # "per-environment", "shared (redis)", ...


class VirtualClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Environment:
    breaker: CircuitBreaker | FleetBreaker
    fleet: FleetBreakers | None
    last_ordinary_call: float = 0.0


@dataclass
class Tally:
    """What the service and the store saw, in virtual seconds since the start."""

    dead_calls: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)
    recovered_calls: list[float] = field(default_factory=list)
    first_trip: float | None = None
    healthy_calls: int = 0
    healthy_refused: int = 0
    noise_failures: int = 0


class WatchedStore:
    """The shared store as the fleet sees it, noting when it first opened the service and each operation's error."""

    def __init__(self, store: FleetStore, clock: VirtualClock) -> None:
        self.store = store
        self.clock = clock
        self.first_trip: float | None = None
        self.trips = 0
        self.errors: Counter[str] = Counter()
        self.cut: Counter[str] = Counter()

    async def read(self, timeout_s: float | None = None) -> Any:
        return await self._watch("read", self.store.read(timeout_s))

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> Any:
        return await self._watch("report_failures", self.store.report_failures(service, failures, repeats, window))

    async def trip(self, service: str, now: float, until: float) -> Any:
        records = await self._watch("trip", self.store.trip(service, now, until))
        if records.get(service) is not None and records[service].since == now:  # this call opened it
            self.trips += 1
            if self.first_trip is None:
                self.first_trip = now - START
        return records

    async def take_lease(self, service: str, now: float, lease_until: float) -> Any:
        return await self._watch("take_lease", self.store.take_lease(service, now, lease_until))

    async def settle_probe(self, service: str, verdict: Any, now: float, until: float) -> Any:
        return await self._watch("settle_probe", self.store.settle_probe(service, verdict, now, until))

    async def close(self) -> None:
        await self.store.close()

    async def _watch(self, name: str, operation: Awaitable[Any]) -> Any:
        left = _PAGE_TIME_LEFT.get()
        if left is not None:
            if left < STORE_LATENCY_S:  # the response comes first: the request path cuts the sync off here
                self.cut[name] += 1
                if asyncio.iscoroutine(operation):
                    operation.close()
                raise asyncio.CancelledError
            _PAGE_TIME_LEFT.set(left - STORE_LATENCY_S)
        try:
            return await operation
        except Exception:
            self.errors[name] += 1
            raise


PAGE, DECIDE, ANSWERED, FAILED = range(4)
type ReadWithL2 = Literal["never", "always"]


async def _read_then_sync(fleet: FleetBreakers) -> None:
    """The record read with the page's L2 read, then the sync's other work (reports, verdicts, the probe lease)."""
    await fleet.refresh(STORE_TIMEOUT_S)
    await fleet.sync()


class ItemLimitedStore:
    """A store with DynamoDB's limits on one item: 1,000 writes (write units of an item under 1 KB) and 6,000
    eventually consistent reads (3,000 read units) a second; beyond them it throttles, per `bucket_s` of virtual
    time (1 s; 0.1 s, i.e. 100 writes, is stricter than DynamoDB, which also keeps some burst capacity)."""

    WRITES_PER_S, READS_PER_S = 1000, 6000

    def __init__(self, store: FleetStore, clock: VirtualClock, bucket_s: float = 1.0) -> None:
        self.store = store
        self.clock = clock
        self.bucket_s = bucket_s
        self.used: Counter[tuple[str, int]] = Counter()
        self.throttled = 0

    async def read(self, timeout_s: float | None = None) -> Any:
        self._spend("read", self.READS_PER_S)
        return await self.store.read(timeout_s)

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> Any:
        self._spend("write", self.WRITES_PER_S)
        return await self.store.report_failures(service, failures, repeats, window)

    async def trip(self, service: str, now: float, until: float) -> Any:
        self._spend("write", self.WRITES_PER_S)
        return await self.store.trip(service, now, until)

    async def take_lease(self, service: str, now: float, lease_until: float) -> Any:
        self._spend("write", self.WRITES_PER_S)
        return await self.store.take_lease(service, now, lease_until)

    async def settle_probe(self, service: str, verdict: Any, now: float, until: float) -> Any:
        self._spend("write", self.WRITES_PER_S)
        return await self.store.settle_probe(service, verdict, now, until)

    async def close(self) -> None:
        await self.store.close()

    def _spend(self, kind: str, per_s: int) -> None:
        bucket, limit = int(self.clock.now / self.bucket_s), int(per_s * self.bucket_s)
        self.used[kind, bucket] += 1
        if self.used[kind, bucket] > limit:
            self.throttled += 1
            raise StoreBusyError(f"{kind}s above {per_s}/s on one item")


type Event = tuple[float, int, int, int]  # (at, sequence, environment, kind)
type Sync = tuple[Callable[[], Awaitable[Any]], float]  # (the sync, its page's time left)


class Fleet:
    def __init__(
        self,
        count: int,
        store: WatchedStore | None,
        clock: VirtualClock,
        seed: int,
        scenario: Scenario,
        *,
        read_with_l2: ReadWithL2 = "never",
    ) -> None:
        self.clock = clock
        self.store = store
        self.scenario = scenario
        self.read_with_l2 = read_with_l2
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.environments: list[Environment] = []
        self.operations_at: dict[str, Counter[str]] = {}
        for _ in range(count):
            local = CircuitBreaker(SERVICE, failure_threshold=POLICY.solo_streak, open_s=POLICY.open_s, clock=clock)
            if store is None:
                self.environments.append(Environment(local, None))
                continue
            fleet = FleetBreakers(store, POLICY, clock=clock, draw=random.Random(self.rng.random()).random)
            self.environments.append(Environment(fleet.breaker(local), fleet))

    async def run(self) -> None:
        scenario = self.scenario
        for env in self.environments:  # every environment reads the state at init, as the handler does
            if env.fleet is not None:
                await env.fleet.refresh(STORE_TIMEOUT_S)
        events: list[Event] = []
        self._sequence = iter(range(1 << 62))
        for index in range(len(self.environments)):
            heapq.heappush(events, (self.rng.uniform(0, 1 / PAGES_PER_S), next(self._sequence), index, PAGE))
        syncs: dict[int, Sync] = {}
        slice_end = SLICE_S
        marks = [(scenario.dead_at, "dead"), (scenario.recovered_at, "recovered"), (scenario.end, "end")]
        self.operations_at["healthy"] = self._operations()
        while events and events[0][0] < scenario.end:
            at, _, index, kind = heapq.heappop(events)
            if at >= slice_end:
                await self._run_syncs(syncs)
                slice_end = (at // SLICE_S + 1) * SLICE_S
                while marks and at >= marks[0][0]:
                    self.operations_at[marks.pop(0)[1]] = self._operations()
            self.clock.now = START + at
            env = self.environments[index]
            if kind == PAGE:
                self._page(env, index, at, events, syncs)
            elif kind == DECIDE:
                self._call(env, index, at, events, syncs)
            elif kind == ANSWERED:
                env.breaker.record_success()
            else:
                env.breaker.record_failure()
                self._note_local_trip(env, at)
                if env.fleet is not None and env.fleet.verdict_pending and index not in syncs:
                    # a probe's verdict is sent at once, as in production: the response follows within PAGE_TAIL_S
                    # (a failure's report waits for the next page's start)
                    syncs[index] = (env.fleet.sync, PAGE_TAIL_S)
        await self._run_syncs(syncs)
        for _, name in marks:
            self.operations_at[name] = self._operations()

    def _page(
        self,
        env: Environment,
        index: int,
        at: float,
        events: list[Event],
        syncs: dict[int, Sync],
    ) -> None:
        heapq.heappush(events, (at + self.rng.uniform(0.8, 1.2) / PAGES_PER_S, next(self._sequence), index, PAGE))
        fleet = env.fleet
        if fleet is not None and (fleet.wants_recheck or fleet.reports_pending or self.read_with_l2 == "always"):
            # The fleet's record is read at the page's start, beside its L2 read (a recheck, reports a previous
            # response cut off, or every page in the "always" row): the call, which waits for the L2 read, is
            # decided after it.
            recheck = fleet.due_at_request_start()
            sync = fleet.sync if recheck else functools.partial(_read_then_sync, fleet)
            syncs[index] = (sync, SLICE_S + PAGE_SERVICE_DELAY_S)  # the shortest page left after the decision
            heapq.heappush(events, (at + SLICE_S, next(self._sequence), index, DECIDE))
            return
        self._call(env, index, at, events, syncs)

    def _call(
        self,
        env: Environment,
        index: int,
        at: float,
        events: list[Event],
        syncs: dict[int, Sync],
    ) -> None:
        # The page decides with the copy it has; the sync (when due) starts beside it and ends within the slice.
        scenario = self.scenario
        allowed = env.breaker.allow()
        if env.fleet is not None and env.fleet.is_due() and index not in syncs:
            page_s = (FAIL_AFTER_S if scenario.is_dead(at) else ANSWER_AFTER_S) if allowed else PAGE_SERVICE_DELAY_S
            syncs[index] = (env.fleet.sync, page_s + PAGE_TAIL_S)
        dead = scenario.is_dead(at)
        if not dead:
            self.tally.healthy_calls += 1
            self.tally.healthy_refused += not allowed
        if not allowed:
            return
        if dead:
            self.tally.dead_calls.append(at)
            if _is_probe(env.breaker):
                self.tally.probes.append(at)
            else:
                env.last_ordinary_call = at
        elif at >= scenario.recovered_at:
            self.tally.recovered_calls.append(at)
        fails = dead or (scenario.noise > 0 and self.rng.random() < scenario.noise)
        self.tally.noise_failures += fails and not dead
        after = FAIL_AFTER_S if dead else ANSWER_AFTER_S
        heapq.heappush(events, (at + after, next(self._sequence), index, FAILED if fails else ANSWERED))

    def _note_local_trip(self, env: Environment, at: float) -> None:
        opened = isinstance(env.breaker, CircuitBreaker) and env.breaker.state is BreakerState.OPEN
        if self.tally.first_trip is None and opened:
            self.tally.first_trip = at

    async def _run_syncs(self, syncs: dict[int, Sync]) -> None:
        if syncs:
            due = list(syncs.values())
            syncs.clear()
            await asyncio.gather(*(_until_the_response(sync, left) for sync, left in due))

    def _operations(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for env in self.environments:
            if env.fleet is not None:
                total.update(env.fleet.operations)
        return total


async def _until_the_response(sync: Callable[[], Awaitable[Any]], page_time_left: float) -> None:
    """Runs a sync as its request would: cut off when the page's response is ready (bff.resilience.fleet_sync)."""
    _PAGE_TIME_LEFT.set(page_time_left)
    try:
        await sync()
    except asyncio.CancelledError:
        return


def _is_probe(breaker: CircuitBreaker | FleetBreaker) -> bool:
    """A call that only a half-open breaker let through: the fleet's leased probe, or a local half-open one."""
    if isinstance(breaker, FleetBreaker):
        return breaker._probing or breaker.local.state is BreakerState.HALF_OPEN
    return breaker.state is BreakerState.HALF_OPEN


def summarise(fleet: Fleet, subject: str, wall_s: float) -> dict[str, Any]:
    scenario = fleet.scenario
    if scenario.dead_s == 0:
        return _summarise_noise(fleet, subject, wall_s)
    tally = fleet.tally
    count = len(fleet.environments)
    trip = fleet.store.first_trip if fleet.store is not None else tally.first_trip
    if trip is not None and trip < scenario.dead_at:
        trip = None  # a trip before the death (noise) says nothing about detection
    callers = [env.last_ordinary_call for env in fleet.environments if env.last_ordinary_call >= scenario.dead_at]
    last_stop = max(callers, default=scenario.dead_at)
    after_stop = [at for at in tally.dead_calls if at > last_stop]
    per_second = Counter(int(at - scenario.recovered_at) for at in tally.recovered_calls)
    offered = count * PAGES_PER_S
    load = [round(per_second.get(second, 0) / offered, 3) for second in range(int(scenario.recovered_s))]
    per_minute = Counter(int((at - scenario.dead_at) // 60) for at in tally.dead_calls)
    minutes = [per_minute.get(minute, 0) for minute in range(int(scenario.dead_s // 60))]
    result: dict[str, Any] = {
        "subject": subject,
        "environments": count,
        "dead_minutes": len(minutes),
        "dead_calls_per_minute": minutes,
        "dead_calls_first_minute": minutes[0],
        "dead_calls_per_minute_after_the_first": round(sum(minutes[1:]) / max(len(minutes) - 1, 1), 1),
        "first_minute_physical_lower_bound": round(offered * FAIL_AFTER_S),
        "dead_calls_per_minute_once_all_stopped": round(
            len(after_stop) / max(scenario.recovered_at - last_stop, 1e-9) * 60, 1
        ),
        "first_trip_s_after_death": None if trip is None else round(trip - scenario.dead_at, 3),
        "all_stopped_s_after_first_trip": None if trip is None else round(max(last_stop - trip, 0.0), 2),
        "environments_that_called_the_dead_service": len(callers),
        "probes_per_s": round(len(tally.probes) / scenario.dead_s, 2),
        "full_load_after_recovery_s": next((second for second, share in enumerate(load) if share >= 0.95), None),
        "recovered_load_share_per_s": load,
        "wall_s": round(wall_s, 1),
    }
    if fleet.store is not None:
        result["store_errors"] = sum(fleet.store.errors.values())
        result["store_operations_cut_by_the_response"] = dict(fleet.store.cut)
        spans = (
            ("healthy", "dead", scenario.healthy_s),
            ("dead", "recovered", scenario.dead_s),
            ("recovered", "end", scenario.recovered_s),
        )
        for phase, until, span in spans:
            done = fleet.operations_at[until] - fleet.operations_at[phase]
            env_minutes = span / 60 * count
            result[f"store_reads_per_env_per_min_{phase}"] = round(done["read"] / env_minutes, 2)
            result[f"store_writes_per_env_per_min_{phase}"] = round(done["write"] / env_minutes, 2)
    return result


def _summarise_noise(fleet: Fleet, subject: str, wall_s: float) -> dict[str, Any]:
    """A healthy service failing a share of its calls: how often the fleet opened it, and what that cost."""
    scenario, tally = fleet.scenario, fleet.tally
    count = len(fleet.environments)
    done = fleet.operations_at["end"] - fleet.operations_at["healthy"]
    env_minutes = scenario.healthy_s / 60 * count
    return {
        "subject": subject,
        "environments": count,
        "noise": scenario.noise,
        "minutes": round(scenario.healthy_s / 60, 1),
        "failures_seen_per_s": round(tally.noise_failures / scenario.healthy_s, 1),
        "false_trips": fleet.store.trips if fleet.store is not None else None,
        "calls_refused_share": round(tally.healthy_refused / max(tally.healthy_calls, 1), 5),
        "store_reads_per_env_per_min": round(done["read"] / env_minutes, 2),
        "store_writes_per_env_per_min": round(done["write"] / env_minutes, 2),
        "store_errors": sum(fleet.store.errors.values()) if fleet.store is not None else None,
        "store_operations_cut_by_the_response": dict(fleet.store.cut) if fleet.store is not None else None,
        "wall_s": round(wall_s, 1),
    }


async def simulate(
    count: int,
    subject: str,
    make_store: Callable[[], FleetStore] | None,
    seed: int,
    scenario: Scenario = OUTAGE,
    *,
    read_with_l2: ReadWithL2 = "never",
    item_limits_s: float | None = None,
) -> dict[str, Any]:
    """One row; `item_limits_s` puts DynamoDB's limits on one item in front of the store, enforced per that many
    seconds (ItemLimitedStore)."""
    clock = VirtualClock()
    limited = None
    if make_store is not None and item_limits_s is not None:
        limited = ItemLimitedStore(make_store(), clock, item_limits_s)
    store = WatchedStore(limited or make_store(), clock) if make_store is not None else None
    fleet = Fleet(count, store, clock, seed, scenario, read_with_l2=read_with_l2)
    started = time.perf_counter()
    try:
        await fleet.run()
    finally:
        if store is not None:
            await store.close()
    result = summarise(fleet, subject, time.perf_counter() - started)
    if limited is not None:
        result["store_throttled"] = limited.throttled
    return result


@contextmanager
def moto_process() -> Iterator[str]:
    """moto's server in its own process (the simulation keeps this one's CPU busy), with the template's tables."""
    port = free_port()
    binary = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        create_tables(endpoint, region_name=REGION)
        yield endpoint
    finally:
        stop_process(process, timeout_s=5)


def store_makers(redis_url: str, moto_endpoint: str) -> dict[str, Callable[[], FleetStore]]:
    tables = create_tables(moto_endpoint, region_name=REGION)
    table = tables["FragmentCacheTable"]

    def dynamodb() -> FleetStore:
        connection = DynamoDbConnection(
            connect_timeout_s=MOTO_TIMEOUT_S,
            read_timeout_s=MOTO_TIMEOUT_S,
            region_name=REGION,
            endpoint_url=moto_endpoint,
        )
        return DynamoDbFleetStore(table, connection, timeout_s=MOTO_TIMEOUT_S, item_key=uuid.uuid4().hex)

    return {
        "shared (redis)": lambda: RedisFleetStore(
            redis_url, timeout_s=STORE_TIMEOUT_S, key=f"bench:{uuid.uuid4().hex}"
        ),
        "shared (dynamodb)": dynamodb,
        # A store that refuses every connection: each environment falls back to its local breaker.
        "shared, store down": lambda: RedisFleetStore(f"redis://127.0.0.1:{free_port()}/0", timeout_s=STORE_TIMEOUT_S),
    }


@dataclass(frozen=True, slots=True)
class Plan:
    """Which rows to run: the fleet sizes, those also run on DynamoDB, the noise rows' sizes and length, and
    whether to add the row that reads the fleet's record with each page's L2 read."""

    counts: Sequence[int]
    dynamodb_counts: Sequence[int]
    noise_counts: Sequence[int]
    noise_minutes: float = 2.0
    read_with_l2: bool = False
    item_limited_counts: Sequence[int] = ()


async def run_all(plan: Plan, makers: dict[str, Callable[[], FleetStore]]) -> list[dict[str, Any]]:
    rows = []

    async def row(count: int, subject: str, make: Callable[[], FleetStore] | None, **options: Any) -> None:
        rows.append(await simulate(count, subject, make, seed=count, **options))
        print(f"fleet {count} {subject}: {rows[-1]['wall_s']} s", file=sys.stderr)

    for count in plan.counts:
        await row(count, "per-environment (today)", None)
        for subject, make in makers.items():
            if "dynamodb" not in subject or count in plan.dynamodb_counts:
                await row(count, subject, make)
        if count in plan.item_limited_counts:
            await row(count, ITEM_LIMITED, makers["shared (redis)"], item_limits_s=1.0)
        if plan.read_with_l2:
            redis = makers["shared (redis)"]
            await row(count, "shared (redis), read with every L2 read", redis, read_with_l2="always")
    for count in plan.noise_counts:
        for noise in NOISE_SHARES:
            scenario = Scenario(plan.noise_minutes * 60, 0.0, 0.0, noise)
            await row(count, "shared (redis)", makers["shared (redis)"], scenario=scenario)
    return rows


def write_chart(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    import matplotlib  # noqa: PLC0415 - only when a chart is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = [row for row in rows if "recovered_load_share_per_s" in row]
    counts = sorted({row["environments"] for row in rows})
    figure, axes = plt.subplots(1, len(counts), figsize=(6 * len(counts), 3.8), squeeze=False)
    for axis, count in zip(axes.flat, counts, strict=True):
        for row in rows:
            if row["environments"] == count:
                shares = row["recovered_load_share_per_s"]
                style = SUBJECT_STYLES.get(row["subject"], {})
                axis.plot(range(len(shares)), shares, label=row["subject"], marker=".", **style)
        axis.set_title(f"{count} environments: load on the recovered service", fontsize=9)
        axis.set_xlabel("seconds after the service recovered")
        axis.set_ylabel("share of the fleet's offered calls")
        axis.set_ylim(0, 1.05)
        axis.grid(visible=True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


async def page_latencies(fleet: FleetBreakers | None, pages: int) -> dict[str, Any]:
    """`pages` pages one after another, in process, every service answering in 20 ms; the time each took."""
    fake = FakeDownstream()
    for service in SERVICES:
        fake.script(service, delay_s=PAGE_SERVICE_DELAY_S)
    settings = settings_for()
    app = build_app(settings, create_http_client(settings, transport=fake.transport()), fleet=fleet)
    latencies: list[float] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        for index in range(pages):
            started = time.perf_counter()
            response = await client.get(f"/product-details/L{index}")
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"page answered {response.status_code}")
    ordered = sorted(latencies)
    return {
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)], 2),
        "store_operations": sum(fleet.operations.values()) if fleet is not None else 0,
    }


async def latency_rows(redis_port: int, pages: int = 300) -> list[dict[str, Any]]:
    """The page's latency with no shared breaker, and with one whose store is healthy, slow (every answer held
    200 ms), hung (never answers) or refusing; the copy is due every second (the shortest refresh)."""
    policy = dataclasses.replace(POLICY, healthy_refresh_s=POLICY.busy_refresh_s)
    rows = [{"store": "no shared breaker", **await page_latencies(None, pages)}]
    with ExitStack() as stack:
        slow = stack.enter_context(delaying_proxy(redis_port, 0.2))
        hung, refusing = stack.enter_context(black_hole_port()), stack.enter_context(refusing_port())
        stores = {
            "healthy (redis-server)": redis_port,
            "slow (answers held 200 ms)": slow.port,
            "hung (never answers)": hung,
            "refusing": refusing,
        }
        for label, port in stores.items():
            store = RedisFleetStore(f"redis://127.0.0.1:{port}/0", timeout_s=0.05, key=f"bench:{uuid.uuid4().hex}")
            fleet = FleetBreakers(store, policy)
            try:
                rows.append({"store": label, **await page_latencies(fleet, pages)})
            finally:
                await store.close()
    return rows


def measure(plan: Plan) -> dict[str, Any]:
    os.environ.update({**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": REGION})
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-fleet-") as work_dir:
        redis = stack.enter_context(running_redis_server(require_redis_server(), Path(work_dir)))
        moto = stack.enter_context(moto_process())
        rows = asyncio.run(run_all(plan, store_makers(redis.url, moto)))
        latency = asyncio.run(latency_rows(redis.port))
    return {"rows": rows, "latency": latency}


def _counts(text: str) -> list[int]:
    return [int(count) for count in text.split(",") if count]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--environments", default="100,1000")
    parser.add_argument(
        "--dynamodb-environments",
        default="100,1000",
        help="the fleet sizes also run on moto DynamoDB (moto answers a few hundred operations a second)",
    )
    parser.add_argument("--noise-environments", default="1000", help="fleet sizes of the noise rows")
    parser.add_argument("--noise-minutes", type=float, default=2.0)
    parser.add_argument("--read-with-l2", action="store_true", help="add the row reading the record with the L2")
    parser.add_argument(
        "--item-limited-environments", default="1000", help="fleet sizes also run with DynamoDB's one-item limits"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--chart", type=Path, default=Path("bench/results/fleet-recovery.png"))
    args = parser.parse_args(argv)
    plan = Plan(
        _counts(args.environments),
        _counts(args.dynamodb_environments),
        _counts(args.noise_environments),
        args.noise_minutes,
        args.read_with_l2,
        _counts(args.item_limited_environments),
    )
    document = measure(plan)
    document["chart"] = str(write_chart(document["rows"], args.chart))
    document["policy"] = dataclasses.asdict(POLICY)
    text = json.dumps(document, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
