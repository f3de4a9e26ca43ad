"""A fleet of Lambda environments against a dead reviews service, then a recovered one: today's per-environment
breaker beside the fleet's shared breaker, on a real redis-server and a real moto DynamoDB server.

Each environment is the project's own breaker objects (a CircuitBreaker, and for the shared breaker a FleetBreakers
copy over a real store client); the environments share one client per store, as they would share the store. Time
is virtual: every environment serves 5 pages a second (intervals drawn from 0.16-0.24 s), one reviews call a page,
no retries or hedges. A dead call fails after 0.1 s (a short call timeout, so that an environment, which serves one
request at a time, never has two pages in flight); a recovered one answers in 0.08 s. As in production, a page
decides on its call with the copy it has, and the copy's sync (when due) starts beside it: every sync due in the
same 10 ms of virtual time runs concurrently against the real store, and the clock waits for them.

Phases: healthy for 30 s, reviews dead for 60 s, recovered for 20 s. Run alone with
`.venv/bin/python -m bench.fleet [--environments 100,1000] [--out FILE] [--chart FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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
from typing import Any

import httpx

from bff.cache.fleet_dynamodb import DynamoDbFleetStore
from bff.cache.fleet_redis import RedisFleetStore
from bff.cache.fleet_state import FleetStore
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
HEALTHY_S, DEAD_S, RECOVERED_S = 30.0, 60.0, 20.0
DEAD_AT, RECOVERED_AT = HEALTHY_S, HEALTHY_S + DEAD_S
END = HEALTHY_S + DEAD_S + RECOVERED_S
FAIL_AFTER_S, ANSWER_AFTER_S = 0.1, 0.08
SLICE_S = 0.01
START = 2_000_000_000.0  # the virtual clock's epoch: far from any real record
STORE_TIMEOUT_S = 0.5  # loopback servers shared by a whole simulated fleet: generous, and errors are counted
REGION = "eu-west-1"
POLICY = FleetPolicy()
SUBJECT_STYLES: dict[str, dict[str, Any]] = {
    "per-environment (today)": {"color": "tab:red"},
    "shared, store down": {"color": "tab:orange", "linestyle": "--"},
    "shared (redis)": {"color": "tab:blue"},
    "shared (dynamodb)": {"color": "tab:green", "linestyle": ":"},
}
PAGE_SERVICE_DELAY_S = 0.02

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
    store_errors: int = 0


class WatchedStore:
    """The shared store as the fleet sees it, noting when it first opened the service and each operation's error."""

    def __init__(self, store: FleetStore, clock: VirtualClock) -> None:
        self.store = store
        self.clock = clock
        self.first_trip: float | None = None
        self.errors: Counter[str] = Counter()

    async def read(self, timeout_s: float | None = None) -> Any:
        return await self._watch("read", self.store.read(timeout_s))

    async def report_failures(self, service: str, count: int, window: int) -> Any:
        return await self._watch("report_failures", self.store.report_failures(service, count, window))

    async def trip(self, service: str, now: float, until: float) -> Any:
        if self.first_trip is None:
            self.first_trip = now - START
        return await self._watch("trip", self.store.trip(service, now, until))

    async def take_lease(self, service: str, now: float, lease_until: float) -> Any:
        return await self._watch("take_lease", self.store.take_lease(service, now, lease_until))

    async def settle_probe(self, service: str, verdict: Any, now: float, until: float) -> Any:
        return await self._watch("settle_probe", self.store.settle_probe(service, verdict, now, until))

    async def close(self) -> None:
        await self.store.close()

    async def _watch(self, name: str, operation: Awaitable[Any]) -> Any:
        try:
            return await operation
        except Exception:
            self.errors[name] += 1
            raise


type Event = tuple[float, int, int, bool | None]  # (at, sequence, environment, outcome: None for a page)


class Fleet:
    def __init__(self, count: int, store: WatchedStore | None, clock: VirtualClock, seed: int) -> None:
        self.clock = clock
        self.store = store
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.environments: list[Environment] = []
        self.operations_at: dict[str, Counter[str]] = {}
        for _ in range(count):
            local = CircuitBreaker(SERVICE, failure_threshold=5, open_s=POLICY.open_s, clock=clock)
            if store is None:
                self.environments.append(Environment(local, None))
                continue
            fleet = FleetBreakers(store, POLICY, clock=clock, draw=random.Random(self.rng.random()).random)
            self.environments.append(Environment(fleet.breaker(local), fleet))

    async def run(self) -> None:
        for env in self.environments:  # every environment reads the state at init, as the handler does
            if env.fleet is not None:
                await env.fleet.refresh(STORE_TIMEOUT_S)
        events: list[Event] = []
        self._sequence = iter(range(1 << 62))
        for index in range(len(self.environments)):
            heapq.heappush(events, (self.rng.uniform(0, 1 / PAGES_PER_S), next(self._sequence), index, None))
        syncs: dict[int, Callable[[], Awaitable[None]]] = {}
        slice_end = SLICE_S
        marks = [(DEAD_AT, "dead"), (RECOVERED_AT, "recovered"), (END, "end")]
        self.operations_at["healthy"] = self._operations()
        while events and events[0][0] < END:
            at, _, index, outcome = heapq.heappop(events)
            if at >= slice_end:
                await self._run_syncs(syncs)
                slice_end = (at // SLICE_S + 1) * SLICE_S
                while marks and at >= marks[0][0]:
                    self.operations_at[marks.pop(0)[1]] = self._operations()
            self.clock.now = START + at
            env = self.environments[index]
            if outcome is None:
                self._page(env, index, at, events, syncs)
            elif outcome:
                env.breaker.record_success()
            else:
                env.breaker.record_failure()
                self._note_local_trip(env, at)
                if env.fleet is not None and env.fleet.is_due():  # reported during the request, as in production
                    syncs[index] = env.fleet.sync
        await self._run_syncs(syncs)
        for _, name in marks:
            self.operations_at[name] = self._operations()

    def _page(
        self,
        env: Environment,
        index: int,
        at: float,
        events: list[Event],
        syncs: dict[int, Callable[[], Awaitable[None]]],
    ) -> None:
        heapq.heappush(events, (at + self.rng.uniform(0.8, 1.2) / PAGES_PER_S, next(self._sequence), index, None))
        # The page decides with the copy it has; the sync (when due) starts beside it and ends within the slice.
        allowed = env.breaker.allow()
        if env.fleet is not None and env.fleet.is_due():
            syncs[index] = env.fleet.sync
        if not allowed:
            return
        dead = DEAD_AT <= at < RECOVERED_AT
        if dead:
            self.tally.dead_calls.append(at)
            if _is_probe(env.breaker):
                self.tally.probes.append(at)
            else:
                env.last_ordinary_call = at
        elif at >= RECOVERED_AT:
            self.tally.recovered_calls.append(at)
        after = FAIL_AFTER_S if dead else ANSWER_AFTER_S
        heapq.heappush(events, (at + after, next(self._sequence), index, not dead))

    def _note_local_trip(self, env: Environment, at: float) -> None:
        opened = isinstance(env.breaker, CircuitBreaker) and env.breaker.state is BreakerState.OPEN
        if self.tally.first_trip is None and opened:
            self.tally.first_trip = at

    async def _run_syncs(self, syncs: dict[int, Callable[[], Awaitable[None]]]) -> None:
        if syncs:
            due = list(syncs.values())
            syncs.clear()
            await asyncio.gather(*(sync() for sync in due))

    def _operations(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for env in self.environments:
            if env.fleet is not None:
                total.update(env.fleet.operations)
        return total


def _is_probe(breaker: CircuitBreaker | FleetBreaker) -> bool:
    """A call that only a half-open breaker let through: the fleet's leased probe, or a local half-open one."""
    if isinstance(breaker, FleetBreaker):
        return breaker._probing or breaker.local.state is BreakerState.HALF_OPEN
    return breaker.state is BreakerState.HALF_OPEN


def summarise(fleet: Fleet, subject: str, wall_s: float) -> dict[str, Any]:
    tally = fleet.tally
    count = len(fleet.environments)
    trip = fleet.store.first_trip if fleet.store is not None else tally.first_trip
    callers = [env.last_ordinary_call for env in fleet.environments if env.last_ordinary_call >= DEAD_AT]
    last_stop = max(callers, default=DEAD_AT)
    after_stop = [at for at in tally.dead_calls if at > last_stop]
    per_second = Counter(int(at - RECOVERED_AT) for at in tally.recovered_calls)
    offered = count * PAGES_PER_S
    load = [round(per_second.get(second, 0) / offered, 3) for second in range(int(RECOVERED_S))]
    result: dict[str, Any] = {
        "subject": subject,
        "environments": count,
        "dead_calls_in_the_dead_minute": len(tally.dead_calls),
        "dead_calls_per_minute_once_all_stopped": round(len(after_stop) / max(RECOVERED_AT - last_stop, 1e-9) * 60, 1),
        "first_trip_s_after_death": None if trip is None else round(trip - DEAD_AT, 2),
        "all_stopped_s_after_first_trip": None if trip is None else round(max(last_stop - trip, 0.0), 2),
        "environments_that_called_the_dead_service": len(callers),
        "probes_per_s": round(len(tally.probes) / DEAD_S, 2),
        "full_load_after_recovery_s": next((second for second, share in enumerate(load) if share >= 0.95), None),
        "recovered_load_share_per_s": load,
        "wall_s": round(wall_s, 1),
    }
    if fleet.store is not None:
        result["store_errors"] = sum(fleet.store.errors.values())
        spans = (("healthy", "dead", HEALTHY_S), ("dead", "recovered", DEAD_S), ("recovered", "end", RECOVERED_S))
        for phase, until, span in spans:
            done = fleet.operations_at[until] - fleet.operations_at[phase]
            minutes = span / 60 * count
            result[f"store_reads_per_env_per_min_{phase}"] = round(done["read"] / minutes, 2)
            result[f"store_writes_per_env_per_min_{phase}"] = round(done["write"] / minutes, 2)
    return result


async def simulate(count: int, subject: str, make_store: Callable[[], FleetStore] | None, seed: int) -> dict[str, Any]:
    clock = VirtualClock()
    store = WatchedStore(make_store(), clock) if make_store is not None else None
    fleet = Fleet(count, store, clock, seed)
    started = time.perf_counter()
    try:
        await fleet.run()
    finally:
        if store is not None:
            await store.close()
    return summarise(fleet, subject, time.perf_counter() - started)


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
    return {
        "shared (redis)": lambda: RedisFleetStore(
            redis_url, timeout_s=STORE_TIMEOUT_S, key=f"bench:{uuid.uuid4().hex}"
        ),
        "shared (dynamodb)": lambda: DynamoDbFleetStore(
            table, timeout_s=STORE_TIMEOUT_S, region_name=REGION, endpoint_url=moto_endpoint, item_key=uuid.uuid4().hex
        ),
        # A store that refuses every connection: each environment falls back to its local breaker.
        "shared, store down": lambda: RedisFleetStore(f"redis://127.0.0.1:{free_port()}/0", timeout_s=STORE_TIMEOUT_S),
    }


async def run_all(
    counts: Sequence[int], makers: dict[str, Callable[[], FleetStore]], dynamodb_counts: Sequence[int]
) -> list[dict[str, Any]]:
    rows = []
    for count in counts:
        rows.append(await simulate(count, "per-environment (today)", None, seed=count))
        for subject, make in makers.items():
            if "dynamodb" in subject and count not in dynamodb_counts:
                continue
            rows.append(await simulate(count, subject, make, seed=count))
            print(f"fleet {count} {subject}: {rows[-1]['wall_s']} s", file=sys.stderr)
    return rows


def write_chart(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    import matplotlib  # noqa: PLC0415 - only when a chart is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

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


def measure(counts: Sequence[int], dynamodb_counts: Sequence[int]) -> dict[str, Any]:
    os.environ.update({**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": REGION})
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-fleet-") as work_dir:
        redis = stack.enter_context(running_redis_server(require_redis_server(), Path(work_dir)))
        moto = stack.enter_context(moto_process())
        rows = asyncio.run(run_all(counts, store_makers(redis.url, moto), dynamodb_counts))
        latency = asyncio.run(latency_rows(redis.port))
    return {"rows": rows, "latency": latency}


def _counts(text: str) -> list[int]:
    return [int(count) for count in text.split(",") if count]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--environments", default="100,1000")
    parser.add_argument(
        "--dynamodb-environments",
        default="100",
        help="the fleet sizes also run on moto DynamoDB (1,000 takes about 4 minutes there: moto answers ~110 ops/s)",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--chart", type=Path, default=Path("bench/results/fleet-recovery.png"))
    args = parser.parse_args(argv)
    document = measure(_counts(args.environments), _counts(args.dynamodb_environments))
    document["chart"] = str(write_chart(document["rows"], args.chart))
    document["policy"] = dataclasses.asdict(POLICY)
    text = json.dumps(document, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
