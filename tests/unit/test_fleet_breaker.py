"""The fleet's shared breaker on its own: several environments (FleetBreakers with local breakers) over one store in
memory with the real stores' conditions, a fake clock and scripted draws. Calls are counted, never timed."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

import pytest

from bff.cache.fleet_state import MemoryFleetStore, ServiceRecord, StoreBusyError, WindowTally, parse_records
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.fleet_breaker import FleetBreaker, FleetBreakers, FleetPolicy, ramp_share
from bff.resilience.fleet_sync import FleetSyncMiddleware

pytestmark = pytest.mark.anyio

POLICY = FleetPolicy()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Draws:
    """Evenly spread draws in [0, 1): 1,000 calls through a ramp at share s let about s x 1,000 through."""

    def __init__(self) -> None:
        self._values: Iterator[float] = itertools.cycle(i / 1000 for i in range(1000))

    def __call__(self) -> float:
        return next(self._values)


class FailingStore(MemoryFleetStore):
    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        raise ConnectionRefusedError("store down")

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> WindowTally:
        raise ConnectionRefusedError("store down")


class ThrottlingStore(MemoryFleetStore):
    """Throttles every write, as DynamoDB does beyond 1,000 writes a second on one item; reads pass."""

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> WindowTally:
        raise StoreBusyError("ProvisionedThroughputExceededException")

    async def trip(self, service: str, now: float, until: float) -> dict[str, ServiceRecord]:
        raise StoreBusyError("ProvisionedThroughputExceededException")


class HungStore(MemoryFleetStore):
    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def environment(store: MemoryFleetStore, clock: FakeClock, policy: FleetPolicy = POLICY) -> FleetBreaker:
    fleet = FleetBreakers(store, policy, clock=clock, draw=Draws())
    return fleet.breaker(CircuitBreaker("reviews", failure_threshold=5, open_s=5.0, clock=clock))


def fleet_of(env: FleetBreaker) -> FleetBreakers:
    return env._fleet


def local_state(env: FleetBreaker) -> BreakerState:
    return env.local.state


async def trip_from(env: FleetBreaker, failures: int) -> None:
    """`failures` in a row in `env`; a streak that reaches the solo threshold is preceded by one failure in another
    environment, since a streak alone (one caller, one environment) never trips the fleet."""
    if failures >= POLICY.solo_streak:
        await witness_failure(env)
    for _ in range(failures):
        assert env.allow()
        env.record_failure()
    await fleet_of(env).sync()


async def witness_failure(env: FleetBreaker) -> None:
    """One failure of the service in another environment of the same fleet, reported."""
    fleet = fleet_of(env)
    other = FleetBreakers(fleet.store, fleet.policy, clock=fleet.now, draw=Draws())
    other.breaker(CircuitBreaker("reviews", clock=fleet.now)).record_failure()
    await other.sync()


async def test_a_fresh_environment_skips_a_service_the_fleet_opened() -> None:
    # Given one environment whose calls to reviews failed five times in a row (its own breaker's threshold)
    store, clock = MemoryFleetStore(), FakeClock()
    failing = environment(store, clock)
    await trip_from(failing, 5)
    # When another environment, which has seen no failure, reads the fleet's state
    fresh = environment(store, clock)
    assert await fleet_of(fresh).refresh(timeout_s=1.0)
    # Then it lets no call through, and its local breaker is still closed (it never called)
    assert not fresh.allow()
    assert fresh.local.state is BreakerState.CLOSED
    assert fresh.retry_after_s() == pytest.approx(POLICY.open_s)


async def test_four_failures_in_a_row_alone_do_not_open_the_fleet() -> None:
    store, clock = MemoryFleetStore(), FakeClock()
    await trip_from(environment(store, clock), POLICY.solo_streak - 1)
    assert await store.read() == {}


async def test_repeated_failures_spread_over_environments_trip_everywhere() -> None:
    # Given four environments that each saw three failures in a row (8 repeats, threshold 8), none tripping locally
    store, clock = MemoryFleetStore(), FakeClock()
    envs = [environment(store, clock) for _ in range(4)]
    for env in envs[:3]:
        await trip_from(env, 3)
    assert await store.read() == {}  # 6 repeats: not yet
    await trip_from(envs[3], 3)
    assert all(env.local.state is BreakerState.CLOSED for env in envs)
    # Then the fleet's record is open, and a fifth environment skips the service
    assert (await store.read())["reviews"].is_open(clock())
    other = environment(store, clock)
    await fleet_of(other).refresh(1.0)
    assert not other.allow()


async def test_a_burst_of_first_failures_across_the_fleet_trips_at_the_burst_threshold() -> None:
    # Given as many environments as the burst threshold, each seeing one failure (no repeat anywhere)
    store, clock = MemoryFleetStore(), FakeClock()
    envs = [environment(store, clock) for _ in range(POLICY.burst_threshold)]
    for env in envs[:-1]:
        await trip_from(env, 1)
    assert await store.read() == {}
    # When the last one reports its failure
    last = envs[-1]
    await trip_from(last, 1)
    # Then the fleet opened, and the last reporter learnt it from its report's answer (no separate read)
    assert (await store.read())["reviews"].is_open(clock())
    assert not last.allow()
    assert fleet_of(last).operations == {"write": 2}


async def test_a_reporter_obeys_the_fleet_state_its_report_returns() -> None:
    # Given a fleet that opened reviews after this environment's last read
    store, clock = MemoryFleetStore(), FakeClock()
    env = environment(store, clock)
    await fleet_of(env).refresh(1.0)
    await trip_from(environment(store, clock), 5)
    # When its next call fails and it reports the failure
    await trip_from(env, 1)
    # Then the report's answer stopped it: no further call, with one write and no extra read
    assert not env.allow()
    assert fleet_of(env).operations == {"read": 1, "write": 1}


async def test_a_report_that_left_the_service_closed_makes_the_next_request_read_the_state() -> None:
    # Given an environment whose one failure was reported while the fleet still had reviews closed
    store, clock = MemoryFleetStore(), FakeClock()
    env = environment(store, clock)
    fleet = fleet_of(env)
    await fleet.refresh(1.0)
    await trip_from(env, 1)
    assert fleet.wants_recheck
    # When other environments open reviews a moment later, and this environment's next request starts
    await trip_from(environment(store, clock), 5)
    clock.advance(0.1)
    assert fleet.due_at_request_start()
    await fleet.sync()
    # Then that request read the state (within the second of the last read) and makes no call
    assert fleet.operations == {"read": 2, "write": 1}
    assert not env.allow()
    assert not fleet.wants_recheck


async def test_a_report_answered_with_an_open_service_wants_no_recheck() -> None:
    store, clock = MemoryFleetStore(), FakeClock()
    await trip_from(environment(store, clock), 5)
    env = environment(store, clock)
    await trip_from(env, 1)  # its copy was empty (never read): the report's answer shows reviews open
    assert not env.allow()
    assert not fleet_of(env).wants_recheck
    assert not fleet_of(env).due_at_request_start()


async def test_a_throttled_report_is_dropped_and_the_state_read_at_once() -> None:
    # Given a fleet that has opened reviews, and a store that now throttles every write
    store, clock = ThrottlingStore(), FakeClock()
    await MemoryFleetStore.trip(store, "reviews", clock(), clock() + POLICY.open_s)
    env = environment(store, clock)
    fleet = fleet_of(env)
    fleet._fresh_at = clock()  # a copy read just before the outage, with reviews still closed
    # When its call fails and the sync's report is throttled
    await trip_from(env, 1)
    # Then the report was dropped and the state read in the same sync: the copy is trusted and obeyed
    assert fleet.operations == {"write": 1, "throttled": 1, "read": 1}
    assert not env.allow()
    assert not fleet.reports_pending


async def test_isolated_failures_do_not_trip_the_fleet() -> None:
    # Given ten environments with one failure each between successes (no repeat)
    store, clock = MemoryFleetStore(), FakeClock()
    for _ in range(10):
        env = environment(store, clock)
        env.record_success()
        env.record_failure()
        env.record_success()
        await fleet_of(env).sync()
    # Then each failure was reported, and nothing opened
    assert await store.read() == {}
    assert (store.fields["reviews_fails"], store.fields["reviews_repeats"]) == ("10", "0")


async def test_failures_in_an_earlier_window_do_not_count() -> None:
    # Given 6 repeats, then the window passes, then 2 more: 2 < 8 in the new window
    store, clock = MemoryFleetStore(), FakeClock()
    envs = [environment(store, clock) for _ in range(4)]
    for env in envs[:3]:
        await trip_from(env, 3)
    clock.advance(POLICY.window_s)
    await trip_from(envs[3], 3)
    assert await store.read() == {}
    assert store.fields["reviews_repeats"] == "2"


async def half_open_fleet(count: int) -> tuple[MemoryFleetStore, FakeClock, list[FleetBreaker]]:
    store, clock = MemoryFleetStore(), FakeClock()
    await trip_from(environment(store, clock), 5)
    envs = [environment(store, clock) for _ in range(count)]
    for env in envs:
        await fleet_of(env).refresh(1.0)
    clock.advance(POLICY.open_s)
    return store, clock, envs


async def test_one_probe_at_a_time_fleet_wide_when_half_open() -> None:
    # Given ten environments that all see reviews half-open
    _store, _clock, envs = await half_open_fleet(10)
    # When each syncs and then tries three calls
    for env in envs:
        await fleet_of(env).sync()
    allowed = sum(env.allow() for env in envs for _ in range(3))
    # Then exactly one call went out in the whole fleet
    assert allowed == 1


async def test_a_lapsed_lease_lets_another_environment_probe() -> None:
    # Given the lease holder never sends its probe (no traffic, or it was frozen)
    _store, clock, envs = await half_open_fleet(2)
    holder, other = envs
    await fleet_of(holder).sync()
    await fleet_of(other).sync()
    assert not other.allow()
    # When the lease lapses and the other environment syncs again
    clock.advance(POLICY.lease_s)
    await fleet_of(other).sync()
    # Then the other one probes, and the first holder's stale lease lets nothing through
    assert other.allow()
    assert not holder.allow()


async def test_a_failed_probe_opens_the_fleet_again() -> None:
    store, clock, envs = await half_open_fleet(1)
    (prober,) = envs
    await fleet_of(prober).sync()
    assert prober.allow()
    prober.record_failure()
    await fleet_of(prober).sync()
    record = (await store.read())["reviews"]
    assert record.is_open(clock())
    assert record.until == pytest.approx(clock() + POLICY.open_s)


async def test_a_successful_probe_ramps_every_environment_up_linearly() -> None:
    # Given a probe that answered
    store, clock, envs = await half_open_fleet(2)
    prober, other = envs
    await fleet_of(prober).sync()
    assert prober.allow()
    prober.record_success()
    await fleet_of(prober).sync()
    assert (await store.read())["reviews"].state == "ramp"
    # When another environment reads the ramp and tries 1,000 calls at several points of it
    await fleet_of(other).refresh(1.0)
    shares = []
    for elapsed in (0.0, POLICY.ramp_s / 2, POLICY.ramp_s - 0.001):
        clock.now = (await store.read())["reviews"].since + elapsed
        shares.append(sum(other.allow() for _ in range(1000)) / 1000)
    # Then the share grows from 10 % through 55 % towards 100 %, as the documented curve says
    assert shares == pytest.approx([0.1, 0.55, 1.0], abs=0.01)
    # And once the ramp is over, the service is closed: every call goes through
    clock.now += 0.01
    assert all(other.allow() for _ in range(100))


def test_the_ramp_curve() -> None:
    assert ramp_share(0, POLICY) == pytest.approx(0.1)
    assert ramp_share(POLICY.ramp_s / 4, POLICY) == pytest.approx(0.325)
    assert ramp_share(POLICY.ramp_s, POLICY) == 1.0
    assert ramp_share(-1, POLICY) == pytest.approx(0.1)


async def test_a_ramp_resets_a_local_breaker_opened_during_the_outage() -> None:
    _store, clock, envs = await half_open_fleet(2)
    prober, other = envs
    for _ in range(5):
        other.local.allow()
        other.local.record_failure()
    assert local_state(other) is BreakerState.OPEN
    await fleet_of(prober).sync()
    assert prober.allow()
    prober.record_success()
    await fleet_of(prober).sync()
    await fleet_of(other).refresh(1.0)
    clock.advance(POLICY.ramp_s / 2)
    other.allow()
    assert local_state(other) is BreakerState.CLOSED


async def test_failures_during_the_ramp_open_the_fleet_again() -> None:
    store, clock, envs = await half_open_fleet(1)
    (env,) = envs
    await fleet_of(env).sync()
    assert env.allow()
    env.record_success()
    await fleet_of(env).sync()
    clock.now = (await store.read())["reviews"].until - 0.001  # near the end of the ramp: nearly every call goes
    await trip_from(env, 5)
    assert (await store.read())["reviews"].is_open(clock())


async def test_with_the_store_down_the_local_breaker_still_trips() -> None:
    # Given a store that refuses every connection
    store, clock = FailingStore(), FakeClock()
    env = environment(store, clock)
    assert not await fleet_of(env).refresh(1.0)
    # When the service fails five times in a row, with syncs between the calls
    for _ in range(5):
        assert env.allow()
        env.record_failure()
        await fleet_of(env).sync()
    # Then the local breaker opened and lets nothing through
    assert env.local.state is BreakerState.OPEN
    assert not env.allow()


async def test_a_copy_too_old_falls_back_to_the_local_breaker() -> None:
    store, clock = MemoryFleetStore(), FakeClock()
    await trip_from(environment(store, clock), 5)
    env = environment(store, clock, FleetPolicy(open_s=60.0, max_view_age_s=30.0))
    await fleet_of(env).refresh(1.0)
    assert not env.allow()
    clock.advance(31.0)
    assert env.allow()


async def test_healthy_operation_reads_at_most_six_times_a_minute_and_never_writes() -> None:
    # Given an environment serving 5 pages a second for a minute, every call answered, a sync before each
    store, clock = MemoryFleetStore(), FakeClock()
    env = environment(store, clock)
    fleet = fleet_of(env)
    for _ in range(300):
        if fleet.is_due():
            await fleet.sync()
        assert env.allow()
        env.record_success()
        clock.advance(0.2)
    assert fleet.operations["read"] <= 6
    assert fleet.operations["write"] == 0


async def test_an_open_fleet_is_read_again_just_after_its_open_period() -> None:
    store, clock = MemoryFleetStore(), FakeClock()
    await trip_from(environment(store, clock), 5)
    env = environment(store, clock)
    fleet = fleet_of(env)
    await fleet.refresh(1.0)
    clock.advance(POLICY.open_s - 0.01)
    assert not fleet.is_due()
    clock.advance(POLICY.busy_refresh_s + 0.02)
    assert fleet.is_due()


async def test_the_middleware_never_waits_for_a_hung_store() -> None:
    # Given an environment whose store never answers, and a request that is answered at once
    store, clock = HungStore(), FakeClock()
    fleet = fleet_of(environment(store, clock))
    answered: list[str] = []

    async def app(scope: object, receive: object, send: object) -> None:
        await asyncio.sleep(0)  # the page awaits its services: the sync starts meanwhile
        clock.advance(POLICY.slow_store_s)  # long enough for a store that answers
        answered.append("page")

    middleware = FleetSyncMiddleware(app, fleet)
    tasks_before = asyncio.all_tasks()
    # When three requests are served a second apart, and two more at once
    for _ in range(3):
        await asyncio.wait_for(middleware({"type": "http"}, None, None), timeout=5)  # type: ignore[arg-type]
        clock.advance(POLICY.busy_refresh_s)
    for _ in range(2):
        await asyncio.wait_for(middleware({"type": "http"}, None, None), timeout=5)  # type: ignore[arg-type]
    # Then each was answered, each sync was cut off with its request (no task outlives a request), a cut-off sync
    # is not tried again within the second, and after three cut syncs the copy is no longer trusted: the local
    # breaker decides
    assert answered == ["page"] * 5
    assert asyncio.all_tasks() == tasks_before
    assert fleet.operations["read"] == 4
    assert fleet.record_for("reviews", clock()) is None


def test_a_garbled_record_reads_as_closed() -> None:
    fields = {"reviews_st": "open", "reviews_since": "x", "reviews_until": "1", "inventory_st": "weird"}
    assert parse_records(fields) == {}


class RecoveringStore(MemoryFleetStore):
    """Refuses every call until `up` is set."""

    up = False

    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        if not self.up:
            raise ConnectionRefusedError("store down")
        return await super().read(timeout_s)

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> WindowTally:
        if not self.up:
            raise ConnectionRefusedError("store down")
        return await super().report_failures(service, failures, repeats, window)


async def test_failures_kept_back_by_a_store_outage_are_dropped_once_too_old() -> None:
    # Given failures seen while the store was down, and the store back a window later
    store, clock = RecoveringStore(), FakeClock()
    env = environment(store, clock)
    for _ in range(5):
        env.record_failure()
        await fleet_of(env).sync()
    clock.advance(POLICY.window_s + POLICY.error_backoff_s)
    store.up = True
    # When the environment syncs again
    await fleet_of(env).sync()
    # Then the old failures opened nothing and were not sent
    assert await store.read() == {}
    assert "reviews_fails" not in store.fields


async def test_failures_kept_back_briefly_are_sent_when_the_store_answers_again() -> None:
    # Given a window longer than the back-off after a store error, and five failures while the store is down
    store, clock = RecoveringStore(), FakeClock()
    env = environment(store, clock, FleetPolicy(window_s=2 * POLICY.error_backoff_s))
    for _ in range(5):
        env.record_failure()
    await fleet_of(env).sync()  # fails: the store is down
    store.up = True
    clock.advance(POLICY.error_backoff_s)
    await witness_failure(env)
    await fleet_of(env).sync()
    assert (await store.read())["reviews"].is_open(clock())


async def test_a_failure_is_reported_at_the_next_requests_start_and_never_during_its_own() -> None:
    # Given an environment that has just read the fleet's state (no sync due at the request's start), in a fleet
    # whose first failure trips it
    store, clock = CountingStore(), FakeClock()
    env = environment(store, clock, FleetPolicy(burst_threshold=1))
    assert await fleet_of(env).refresh(1.0)
    assert not fleet_of(env).is_due()
    # When one request through the middleware sees a failure
    await serve(FleetSyncMiddleware(failing_page(env), fleet_of(env)))
    # Then no report was started during it (its sync would be cut off by the response, its write perhaps applied)
    assert store.calls["report_failures"] == 0
    # And the next request's start sends it, once: the fleet opened, and another environment skips the service
    await serve(FleetSyncMiddleware(quiet_page, fleet_of(env)))
    assert store.calls["report_failures"] == 1
    other = environment(store, clock)
    await fleet_of(other).refresh(1.0)
    assert not other.allow()


async def test_each_change_of_the_fleets_state_is_heard_once_per_environment() -> None:
    store, clock = MemoryFleetStore(), FakeClock()
    heard: list[tuple[str, str, str]] = []
    fleet = FleetBreakers(store, POLICY, clock=clock, draw=Draws(), on_transition=lambda *change: heard.append(change))
    env = fleet.breaker(CircuitBreaker("reviews", clock=clock))
    await fleet.refresh(1.0)
    await trip_from(env, 5)
    await fleet.refresh(1.0)
    clock.advance(POLICY.open_s)
    await fleet.sync()
    assert env.allow()
    env.record_success()
    await fleet.sync()
    clock.advance(POLICY.ramp_s)
    await fleet.refresh(1.0)
    assert heard == [("reviews", "closed", "open"), ("reviews", "open", "ramp"), ("reviews", "ramp", "closed")]


async def test_a_change_learnt_during_a_request_is_heard_by_that_requests_listener() -> None:
    # Given an environment whose own listener hears changes learnt outside a request, requests with their own, and a
    # failure waiting to be reported in a fleet whose first failure trips it
    store, clock = MemoryFleetStore(), FakeClock()
    outside: list[tuple[str, str, str]] = []
    heard: dict[str, list[tuple[str, str, str]]] = {"first": [], "second": []}
    fleet = FleetBreakers(
        store,
        FleetPolicy(burst_threshold=1),
        clock=clock,
        draw=Draws(),
        on_transition=lambda *change: outside.append(change),
    )
    env = fleet.breaker(CircuitBreaker("reviews", clock=clock))
    await fleet.refresh(1.0)

    def listener_of(scope: dict[str, str]) -> Callable[[str, str, str], None]:
        return lambda *change: heard[scope["name"]].append(change)

    failing = FleetSyncMiddleware(failing_page(env), fleet, listener_of=listener_of)  # type: ignore[arg-type]
    quiet = FleetSyncMiddleware(quiet_page, fleet, listener_of=listener_of)  # type: ignore[arg-type]
    await failing({"type": "http", "name": "first"}, None, None)  # type: ignore[arg-type]
    # When the next request's report opens the fleet
    await quiet({"type": "http", "name": "second"}, None, None)  # type: ignore[arg-type]
    # Then the change is that request's to count, once, and not the environment's
    assert heard == {"first": [], "second": [("reviews", "closed", "open")]}
    assert outside == []
    # And a change learnt later outside any request is the environment's
    clock.advance(POLICY.open_s)
    await MemoryFleetStore.settle_probe(store, "reviews", "ramp", clock(), clock() + POLICY.ramp_s)
    await fleet.refresh(1.0)
    assert outside == [("reviews", "open", "ramp")]


class CountingStore(MemoryFleetStore):
    """Counts each operation; `hold_reports` keeps report_failures waiting until it is cleared (a store slower than
    the page); `refuse` refuses every operation."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.hold_reports = asyncio.Event()
        self.hold_reports.set()
        self.refuse = False

    async def read(self, timeout_s: float | None = None) -> dict[str, ServiceRecord]:
        self.calls["read"] += 1
        if self.refuse:
            raise ConnectionRefusedError("store down")
        return await super().read(timeout_s)

    async def report_failures(self, service: str, failures: int, repeats: int, window: int) -> WindowTally:
        self.calls["report_failures"] += 1
        if self.refuse:
            raise ConnectionRefusedError("store down")
        await self.hold_reports.wait()
        return await super().report_failures(service, failures, repeats, window)


def failing_page(env: FleetBreaker, calls: int = 1) -> Callable[[object, object, object], Awaitable[None]]:
    """A page whose `calls` concurrent calls to reviews fail, after which its response is ready at once."""

    async def page(scope: object, receive: object, send: object) -> None:
        async def call() -> None:
            assert env.allow()
            await asyncio.sleep(0)
            env.record_failure()

        await asyncio.gather(*(call() for _ in range(calls)))

    return page


async def quiet_page(scope: object, receive: object, send: object) -> None:
    """A page that calls nothing and answers after a few turns of the loop (its sync runs meanwhile)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def serve(middleware: FleetSyncMiddleware) -> None:
    await middleware({"type": "http"}, None, None)  # type: ignore[arg-type]


async def test_a_report_cut_off_by_the_response_stays_pending_and_is_not_held_against_the_store() -> None:
    # Given an environment with a failure to report, and a store slower than the next page for that report
    store, clock = CountingStore(), FakeClock()
    env = environment(store, clock)
    fleet = fleet_of(env)
    assert await fleet.refresh(1.0)
    await serve(FleetSyncMiddleware(failing_page(env), fleet))
    store.hold_reports.clear()
    # When the next request's start sends the report and its response is ready before the store answers
    await serve(FleetSyncMiddleware(quiet_page, fleet))
    # Then the report was tried and cut off, yet it is neither lost nor held against the store: the copy is still
    # trusted, and the next request's start is due to send it (no quiet period)
    assert store.calls["report_failures"] == 1
    assert "reviews_fails" not in store.fields
    assert fleet.reports_pending
    assert fleet.is_due()
    assert fleet._cut_syncs == 0
    # And when the next request starts, with the store answering again, the report lands once
    store.hold_reports.set()
    await serve(FleetSyncMiddleware(quiet_page, fleet))
    assert store.calls["report_failures"] == 2
    tally = await MemoryFleetStore.report_failures(store, "reviews", 0, 0, int(clock() // POLICY.window_s))
    assert tally.failures == 1
    assert not fleet.reports_pending


async def test_a_failure_seen_as_the_page_is_cancelled_starts_no_sync() -> None:
    # Given an environment whose copy is fresh
    store, clock = CountingStore(), FakeClock()
    env = environment(store, clock)
    fleet = fleet_of(env)
    assert await fleet.refresh(1.0)
    cancelled = asyncio.Event()

    async def page(scope: object, receive: object, send: object) -> None:
        async def hung_call() -> None:
            assert env.allow()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:  # the page's deadline: recorded as the caller does, then re-raised
                env.record_failure()
                cancelled.set()
                raise

        task = asyncio.get_running_loop().create_task(hung_call())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait((task,))

    # When a call fails because the page's deadline cancels it
    await serve(FleetSyncMiddleware(page, fleet))
    # Then no report was started at that moment (it would be cut off), and the failure waits for the next request
    assert cancelled.is_set()
    assert store.calls["report_failures"] == 0
    assert fleet.is_due()


async def test_concurrent_failures_of_one_request_are_one_step_and_one_report() -> None:
    # Given an environment whose copy is fresh
    store, clock = CountingStore(), FakeClock()
    env = environment(store, clock)
    fleet = fleet_of(env)
    assert await fleet.refresh(1.0)
    # When one request's 16 concurrent calls fail (a batch cut off by its deadline), and the next request starts
    await serve(FleetSyncMiddleware(failing_page(env, calls=16), fleet))
    await serve(FleetSyncMiddleware(quiet_page, fleet))
    # Then the fleet heard one failure and no repeat, and the streak is one step; the local breaker heard all 16
    window = int(clock() // POLICY.window_s)
    tally = await MemoryFleetStore.report_failures(store, "reviews", 0, 0, window)
    assert (tally.failures, tally.repeats) == (1, 0)
    assert env._streak == 1
    assert local_state(env) is BreakerState.OPEN


async def test_one_environments_streak_alone_never_trips_the_fleet() -> None:
    # Given an environment whose copy is fresh, in a fleet where no other environment fails
    store, clock = CountingStore(), FakeClock()
    env = environment(store, clock)
    fleet = fleet_of(env)
    assert await fleet.refresh(1.0)
    # When five requests in a row fail (one caller's requests, sent to one warm environment), each reported
    for _ in range(POLICY.solo_streak):
        await serve(FleetSyncMiddleware(failing_page(env), fleet))
    await serve(FleetSyncMiddleware(quiet_page, fleet))
    # Then its own breaker opened, the fleet did not
    assert env._streak == POLICY.solo_streak
    assert local_state(env) is BreakerState.OPEN
    assert await store.read() == {}
    # And with one failure from another environment in the window, the next streak report trips it
    await witness_failure(env)
    env.local = CircuitBreaker("reviews", failure_threshold=5, open_s=5.0, clock=clock)
    await serve(FleetSyncMiddleware(failing_page(env), fleet))
    await serve(FleetSyncMiddleware(quiet_page, fleet))
    assert (await store.read())["reviews"].is_open(clock())


async def test_reports_wait_for_the_store_back_off() -> None:
    # Given an environment whose store refuses connections, and a service that fails every page
    store, clock = CountingStore(), FakeClock()
    store.refuse = True
    env = environment(store, clock)
    fleet = fleet_of(env)
    assert not await fleet.refresh(1.0)
    # When 20 pages fail over 4 s (within the 5 s back-off after the store's error)
    for _ in range(20):
        env.local = CircuitBreaker("reviews", failure_threshold=100, open_s=5.0, clock=clock)
        await serve(FleetSyncMiddleware(failing_page(env), fleet))
        clock.advance(0.2)
    # Then the store was not asked again: one read at init, no report
    assert store.calls == Counter({"read": 1})
    # And once the back-off is over, the next page's sync tries the store once (its reports too old are dropped)
    clock.advance(POLICY.error_backoff_s)
    await serve(FleetSyncMiddleware(failing_page(env), fleet))
    assert store.calls["read"] + store.calls["report_failures"] == 2


async def test_two_requests_at_once_each_keep_their_listener_and_their_sync() -> None:
    # Given an environment with a failure to report, in a fleet whose first failure trips it, serving two requests on
    # one loop, each with its own listener, and a store that holds reports until released
    store, clock = CountingStore(), FakeClock()
    fleet = FleetBreakers(store, FleetPolicy(burst_threshold=1), clock=clock, draw=Draws())
    env = fleet.breaker(CircuitBreaker("reviews", clock=clock))
    assert await fleet.refresh(1.0)
    await serve(FleetSyncMiddleware(failing_page(env), fleet))
    heard: dict[str, list[tuple[str, str, str]]] = {"a": [], "b": []}
    a_may_end = asyncio.Event()
    store.hold_reports.clear()

    async def page(scope: dict[str, str], receive: object, send: object) -> None:
        if scope["name"] == "a":
            await a_may_end.wait()
            return
        await asyncio.sleep(0)  # B's sync sends the report, and waits for the store
        a_may_end.set()  # A ends while B's report is still out
        for _ in range(5):
            await asyncio.sleep(0)
        store.hold_reports.set()
        for _ in range(5):
            await asyncio.sleep(0)

    def listener_of(scope: dict[str, str]) -> Callable[[str, str, str], None]:
        return lambda *change: heard[scope["name"]].append(change)

    middleware = FleetSyncMiddleware(page, fleet, listener_of=listener_of)  # type: ignore[arg-type]
    # When A ends while B's report is being sent
    await asyncio.gather(
        middleware({"type": "http", "name": "b"}, None, None),  # type: ignore[arg-type]
        middleware({"type": "http", "name": "a"}, None, None),  # type: ignore[arg-type]
    )
    # Then B's report was sent once and landed, and the change it learnt is B's alone
    assert store.calls["report_failures"] == 1
    assert (await store.read())["reviews"].is_open(clock())
    assert heard == {"a": [], "b": [("reviews", "closed", "open")]}
