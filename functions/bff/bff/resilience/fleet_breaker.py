"""A circuit breaker the fleet shares: every Lambda environment keeps its own breaker per service and also obeys
the fleet's state, kept in the shared store the fragment cache uses (bff.cache.fleet_state).

- Calls never wait for the store. `allow()` reads this environment's copy of the fleet's state, in memory. The copy
  is refreshed by `FleetBreakers.sync()`, which the request path starts beside the page's own work and cuts off when
  the response is ready (bff.resilience.fleet_sync), so nothing runs after the response.
- Healthy operation reads the store once every `healthy_refresh_s` (10 s: 6 reads a minute) and writes nothing.
  While a service is half-open or ramping the copy is refreshed every `busy_refresh_s` (1 s); while it is open, once
  just after the open period ends (spread over `busy_refresh_s`, so the fleet does not read at the same instant).
- An environment reports each failing request of a service its copy says is closed (or ramping), at its next
  request's start (a sync started as a page ends would be cut off with its write on the wire, applied or not); the
  report's answer carries the whole fleet state, so the reporter obeys an open service at once. A sync the response
  cuts off keeps what it had not sent. The store counts, per fixed window of `window_s`, every failure and the
  repeats (an environment's second, third... failing request in a row). The service opens fleet-wide for `open_s`
  when
  - one environment's failing requests in a row reach `solo_streak` (its local breaker's threshold: it opens
    anyway) and another environment reported a failure in the window (one caller never trips the fleet);
  - or the window's repeats reach `failure_threshold` (a few environments failing again and again: a healthy
    service rarely fails twice running);
  - or the window's failures reach `burst_threshold` (a large fleet's first failures, all at once). Set it above
    twice the failures a healthy service's error rate makes across the fleet in a window.
  A report whose answer still shows the service closed makes the next request read the state at its start, beside
  its own L2 read, since the other environments' reports may have opened it meanwhile (one read per such failure).
- A report the store throttles (DynamoDB takes 1,000 writes a second on one item) is dropped, and the state read
  at once instead: many environments are reporting, and their reports open the service.
- When the open period ends, the first environment to take the probe lease (a conditional write that lapses after
  `lease_s`) sends the one probe; every other environment keeps failing fast.
- A probe that answers starts the ramp: for `ramp_s` a share of calls `ramp_floor + (1 - ramp_floor) * t / ramp_s`
  goes through in every environment (linear from 10 % at the probe to 100 %), then the service is closed again. A
  failed probe opens the service for another `open_s`.
- When the store fails, times out, or the copy is older than `max_view_age_s`, each environment decides with its
  local breaker alone, as it would with no shared store.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bff.cache.fleet_state import FleetStateName, FleetStore, ServiceRecord, StoreBusyError, WindowTally
from bff.resilience.circuit_breaker import BreakerState, CircuitBreaker
from bff.resilience.tasks import cut_off

type Clock = Callable[[], float]
type Draw = Callable[[], float]
type FleetTransitionListener = Callable[[str, str, str], None]


def _ignore(_service: str, _old: str, _new: str) -> None:
    return None


# A sync that the response cut off this many times in a row, each after waiting `slow_store_s`, means the store is
# too slow to be believed.
_MAX_CUT_SYNCS = 3
# Rounds of one sync: a failure recorded while a sync runs is sent by that sync's next round.
_MAX_PASSES = 3


@dataclass(frozen=True, slots=True)
class FleetPolicy:
    failure_threshold: int = 8
    burst_threshold: int = 200
    solo_streak: int = 5
    window_s: float = 2.0
    open_s: float = 5.0
    ramp_s: float = 10.0
    ramp_floor: float = 0.1
    healthy_refresh_s: float = 10.0
    busy_refresh_s: float = 1.0
    lease_s: float = 2.0
    max_view_age_s: float = 30.0
    error_backoff_s: float = 5.0
    slow_store_s: float = 0.01


@dataclass(eq=False, slots=True)
class FleetRequest:
    """One request's part in the fleet's exchange: who hears the changes learnt during it, and the sync it started
    (cut off when its response is ready, and only then). Bound to the request's context, so two requests served at
    once on one loop never share either."""

    fleet: FleetBreakers
    listener: FleetTransitionListener | None
    token: contextvars.Token[FleetRequest | None] | None = None
    task: asyncio.Task[None] | None = field(default=None)


_CURRENT_REQUEST: contextvars.ContextVar[FleetRequest | None] = contextvars.ContextVar("fleet_request", default=None)


def _page_is_ending() -> bool:
    """Whether the running task is being cancelled (its page's deadline passed, or the page no longer waits for
    it): a sync started now would be cut off before the store answers."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def ramp_share(elapsed_s: float, policy: FleetPolicy) -> float:
    """The share of calls let through `elapsed_s` after a successful probe: linear from `ramp_floor` to 1."""
    if elapsed_s >= policy.ramp_s:
        return 1.0
    progress = max(elapsed_s, 0.0) / policy.ramp_s
    return policy.ramp_floor + (1.0 - policy.ramp_floor) * progress


class FleetBreakers:
    """One environment's copy of the fleet's breaker state and its pending writes; `sync()` exchanges both with
    the store. `operations` counts the store round trips, as `read` and `write`."""

    def __init__(
        self,
        store: FleetStore,
        policy: FleetPolicy = FleetPolicy(),
        *,
        clock: Clock = time.time,
        draw: Draw = random.random,
        on_transition: FleetTransitionListener = _ignore,
    ) -> None:
        """`on_transition(service, old, new)` hears each change of a service's state in this copy (closed, open,
        ramp), as this environment learns it, outside a request (init, a SnapStart restore); during a request the
        request's own listener hears it (`begin_request`), so that it is counted in the request's one line."""
        self.store = store
        self._on_transition = on_transition
        self.policy = policy
        self.operations: Counter[str] = Counter()
        self._clock = clock
        self._draw = draw
        self._records: dict[str, ServiceRecord] = {}
        self._fresh_at: float | None = None
        self._failing = False
        self._cut_syncs = 0
        self._next_read_at = 0.0
        self._pending: dict[str, _Report] = {}
        self._own_failures: dict[str, tuple[int, int]] = {}
        self._verdicts: dict[str, bool] = {}
        self._leases: dict[str, float] = {}
        self._quiet_until = 0.0
        self._recheck = False

    def breaker(self, local: CircuitBreaker) -> FleetBreaker:
        return FleetBreaker(local, self)

    def now(self) -> float:
        return self._clock()

    def draw(self) -> float:
        return self._draw()

    def record_for(self, service: str, now: float) -> ServiceRecord | None:
        """The fleet's record of the service, or None when it is closed or the copy cannot be trusted."""
        if self._fresh_at is None or self._failing or self._cut_syncs >= _MAX_CUT_SYNCS:
            return None
        if now - self._fresh_at > self.policy.max_view_age_s:
            return None
        record = self._records.get(service)
        return None if record is None or record.is_closed(now) else record

    def use_lease(self, service: str, now: float) -> bool:
        """True once for the environment holding the service's live probe lease: that call is the fleet's probe."""
        lease_until = self._leases.pop(service, 0.0)
        return lease_until > now

    def report_failure(self, service: str, streak: int) -> None:
        """A request's call failed (that request being the `streak`th in a row to fail it) while the copy says the
        service is closed or ramping: reported at the next request's start, whose sync has that page's time (its
        answer is the fleet's state, so the report is also a read).

        Not during the request that saw it: a failure is mostly its page's last event (a timed-out call), so a sync
        started then is cut off by the response while its write is on the wire. The store may have applied it or
        not; sending it again could count it twice (at 1,000 environments and 1 % errors, in the bench: 9 false
        trips in 2 minutes), and not sending it could lose it."""
        self._hold(service, _Report(failures=1, repeats=int(streak >= 2), streak=streak, since=self._clock()))

    def report_probe(self, service: str, answered: bool) -> None:
        self._verdicts[service] = answered
        self._start_sync_in_request()

    def current_request(self) -> FleetRequest | None:
        """The request of this environment whose context the caller runs in, or None outside one."""
        request = _CURRENT_REQUEST.get()
        return request if request is not None and request.fleet is self else None

    @property
    def wants_recheck(self) -> bool:
        """Whether the next request reads the fleet's state at its start, beside its own L2 read: a failure this
        environment reported left the service closed, and the fleet may have opened it since."""
        return self._recheck

    @property
    def verdict_pending(self) -> bool:
        """Whether a probe's verdict waits to be sent (started at once during a request: settling a probe twice is
        harmless)."""
        return bool(self._verdicts)

    @property
    def reports_pending(self) -> bool:
        """Whether failures or a probe's verdict wait to be sent (a previous response cut their sync off): the next
        request's start sends them, and the answer is read with them."""
        return bool(self._pending or self._verdicts)

    def begin_request(self, on_transition: FleetTransitionListener | None = None) -> FleetRequest:
        """A request starts, in the caller's context: a sync starts beside it when one is due (a recheck, or reports
        a previous response left unsent), and whatever falls due during the request (a failure to report, a probe's
        verdict) is sent during it; `on_transition` hears the changes learnt meanwhile. `end_request` ends it."""
        request = FleetRequest(self, on_transition)
        request.token = _CURRENT_REQUEST.set(request)
        if self.due_at_request_start():
            self._start_sync(request)
        return request

    def due_at_request_start(self) -> bool:
        """Whether a request starting now starts a sync: one is due, or a recheck is wanted (its read is due now)."""
        if self._recheck:
            self._recheck = False
            self._next_read_at = min(self._next_read_at, self._clock())
        return self.is_due()

    async def end_request(self, request: FleetRequest) -> None:
        """The request's response is ready: cuts off the sync it started, if still running, so nothing runs after
        the response; what that sync had not sent stays pending. Another request's sync runs on."""
        task, request.task = request.task, None
        if task is not None:
            await cut_off(task)
        if request.token is not None:
            _CURRENT_REQUEST.reset(request.token)
            request.token = None

    def is_due(self) -> bool:
        """Whether `sync()` has anything to do now; cheap, so the request path asks before starting one."""
        now = self._clock()
        if now < self._quiet_until:
            return False
        if now >= self._next_read_at:
            return True
        # after a store error nothing is sent before the back-off ends
        return not self._failing and bool(self._pending or self._verdicts)

    async def refresh(self, timeout_s: float) -> bool:
        """Reads the fleet's state now, within `timeout_s` (init and SnapStart restores, before any call)."""
        now = self._clock()
        try:
            self.operations["read"] += 1
            async with asyncio.timeout(timeout_s):
                records = await self.store.read(timeout_s)
            self._accept(records, now)
        except Exception:  # the local breakers decide until a later sync succeeds
            self._failed(self._clock())
            return False
        return True

    async def reset(self) -> None:
        """Forgets the copy and everything pending, and closes the store's client (it reopens on first use): a
        SnapStart snapshot must carry neither a connection nor a state read before it; `refresh` reads it again."""
        self._records, self._fresh_at, self._next_read_at = {}, None, 0.0
        self._pending.clear()
        self._verdicts.clear()
        self._leases.clear()
        self._recheck = False
        await self.store.close()

    async def sync(self) -> None:
        """Sends the probe verdicts and failure reports, refreshes the copy when due, and tries for the probe lease
        of a half-open service; again while something fell due meanwhile. Cancelled by the request path when the
        response is ready; then whatever was not sent stays pending, for the next request's start."""
        for _ in range(_MAX_PASSES):
            now = self._clock()
            try:
                await self._send_verdicts(now)
                await self._send_failures(now)
                if now >= self._next_read_at:
                    await self._read(now)
                await self._take_leases(now)
            except asyncio.CancelledError:
                self._cut(now)
                raise
            except Exception:  # a shared breaker never fails a page: the local breakers decide meanwhile
                self._failed(now)
                return
            self._cut_syncs = 0
            if not self.is_due():
                return

    def _cut(self, started: float) -> None:
        """A response cut this sync off. A store that had `slow_store_s` and did not answer is slow: the next try
        waits a second (a hung store costs one connection attempt a second, not one a page), and a few such cuts in
        a row stop the copy being trusted. A sync cut sooner (the page was quicker than the store) says nothing
        about the store: nothing is held against it, and its reports go at the next request's start."""
        if self._clock() - started < self.policy.slow_store_s:
            return
        self._cut_syncs += 1
        self._quiet_until = self._clock() + self.policy.busy_refresh_s

    def _start_sync_in_request(self) -> None:
        request = self.current_request()
        if request is not None and not _page_is_ending() and self.is_due():
            self._start_sync(request)

    def _start_sync(self, request: FleetRequest) -> None:
        if request.task is None or request.task.done():
            request.task = asyncio.get_running_loop().create_task(self.sync())

    async def _send_verdicts(self, now: float) -> None:
        while self._verdicts:
            service, answered = next(iter(self._verdicts.items()))
            state: FleetStateName = "ramp" if answered else "open"
            until = now + (self.policy.ramp_s if answered else self.policy.open_s)
            self.operations["write"] += 1
            await self.store.settle_probe(service, state, now, until)
            del self._verdicts[service]
            self._tell_transitions({**self._records, service: ServiceRecord(state, now, until)}, now)
            self._records[service] = ServiceRecord(state, now, until)
            self._schedule_read(now)

    async def _send_failures(self, now: float) -> None:
        window = int(now // self.policy.window_s)
        while self._pending:
            # Taken out while it is being sent, so that another request's sync does not send it too; held again if
            # this one is cut off or fails.
            service = next(iter(self._pending))
            report = self._pending.pop(service)
            if now - report.since > self.policy.window_s:
                continue  # kept back by a store outage: too old to open anything now
            count = report.failures
            self.operations["write"] += 1
            try:
                tally = await self.store.report_failures(service, count, report.repeats, window)
            except StoreBusyError:
                # Throttled: many environments are reporting at once, and their reports open the service. The
                # report is dropped and the state read now instead (reads pass where writes are throttled).
                self.operations["throttled"] += 1
                self._next_read_at = now
                continue
            except BaseException:
                self._hold(service, report)
                raise
            own = self._count_own(service, window, count)
            self._accept(tally.records, now)
            record = tally.records.get(service)
            if record is not None and record.state == "open":
                continue
            if self._trips(tally, report.streak, others=tally.failures - own):
                self.operations["write"] += 1
                try:
                    self._accept(await self.store.trip(service, now, now + self.policy.open_s), now)
                except StoreBusyError:  # as for a report: others trip it; read instead
                    self.operations["throttled"] += 1
                    self._next_read_at = now
            else:  # the fleet had not opened it when this report landed; others' reports may open it soon
                self._recheck = True

    def _trips(self, tally: WindowTally, streak: int, *, others: int) -> bool:
        """`others`: the window's failures reported by other environments. A streak alone never trips the fleet
        (one caller sending bad requests to one warm environment opens that environment's local breaker only)."""
        policy = self.policy
        return (
            (streak >= policy.solo_streak and others >= 1)
            or tally.repeats >= policy.failure_threshold
            or tally.failures >= policy.burst_threshold
        )

    def _count_own(self, service: str, window: int, count: int) -> int:
        """This environment's failures of `service` reported in `window`, this report's `count` included."""
        last_window, reported = self._own_failures.get(service, (window, 0))
        own = (reported if last_window == window else 0) + count
        self._own_failures[service] = (window, own)
        return own

    def _hold(self, service: str, report: _Report) -> None:
        """Keeps `report` until a sync sends it, merged with what already waits for `service`."""
        held = self._pending.get(service)
        self._pending[service] = report if held is None else held.merged(report)

    async def _read(self, now: float) -> None:
        self.operations["read"] += 1
        self._accept(await self.store.read(), now)

    async def _take_leases(self, now: float) -> None:
        for service, record in list(self._records.items()):
            if not record.is_half_open(now) or not record.lease_free(now) or service in self._leases:
                continue
            lease_until = now + self.policy.lease_s
            self.operations["write"] += 1
            if await self.store.take_lease(service, now, lease_until):
                self._leases[service] = lease_until
                self._records[service] = dataclasses.replace(record, lease_until=lease_until)
            else:  # another environment probes: look again within busy_refresh_s
                self._records[service] = dataclasses.replace(record, lease_until=now + self.policy.busy_refresh_s)

    def _accept(self, records: dict[str, ServiceRecord], now: float) -> None:
        self._tell_transitions(records, now)
        self._records = records
        self._fresh_at = now
        self._failing = False
        self._schedule_read(now)

    def _tell_transitions(self, records: dict[str, ServiceRecord], now: float) -> None:
        for service in self._records.keys() | records.keys():
            # each copy's state as of when it was read
            old = _state_of(self._records.get(service), self._fresh_at or now)
            new = _state_of(records.get(service), now)
            if old != new:
                request = self.current_request()
                listener = request.listener if request is not None else None
                (listener or self._on_transition)(service, old, new)

    def _schedule_read(self, now: float) -> None:
        policy = self.policy
        live = [record for record in self._records.values() if not record.is_closed(now)]
        if any(record.is_half_open(now) or record.is_ramping(now) for record in live):
            self._next_read_at = now + policy.busy_refresh_s
            return
        # Healthy: every 10-11 s (at most 6 reads a minute); open: just after the open period, spread out.
        next_read_at = now + policy.healthy_refresh_s * (1.0 + 0.1 * self._draw())
        for record in live:
            next_read_at = min(next_read_at, record.until + policy.busy_refresh_s * self._draw())
        self._next_read_at = max(next_read_at, now + policy.busy_refresh_s)

    def _failed(self, now: float) -> None:
        """The store failed: the local breakers decide until it answers again. Failure reports wait for it
        (capped at the threshold each); probe verdicts are dropped, since the probe's lease lapses anyway."""
        self._failing = True
        self._pending = {service: report.capped(self.policy) for service, report in self._pending.items()}
        self._verdicts.clear()
        self._next_read_at = now + self.policy.error_backoff_s


@dataclass(frozen=True, slots=True)
class _Report:
    """A service's failures waiting to be sent: how many, how many were repeats, the longest streak among them, and
    when the first was seen."""

    failures: int
    repeats: int
    streak: int
    since: float

    def merged(self, other: _Report) -> _Report:
        return _Report(
            self.failures + other.failures,
            self.repeats + other.repeats,
            max(self.streak, other.streak),
            min(self.since, other.since),
        )

    def capped(self, policy: FleetPolicy) -> _Report:
        """At most what can open the service: a store outage does not pile up an unbounded report."""
        return dataclasses.replace(
            self,
            failures=min(self.failures, policy.burst_threshold),
            repeats=min(self.repeats, policy.failure_threshold),
        )


def _state_of(record: ServiceRecord | None, now: float) -> str:
    return "closed" if record is None or record.is_closed(now) else record.state


class FleetBreaker:
    """The Breaker of one service in one environment: the fleet's state when the copy is good and the service is
    not closed there, else the local breaker (which always hears every outcome)."""

    def __init__(self, local: CircuitBreaker, fleet: FleetBreakers) -> None:
        self.local = local
        self.service = local.service
        self._fleet = fleet
        self._streak = 0
        self._streak_request: FleetRequest | None = None
        self._probing = False
        self._ramp_seen: float | None = None

    @property
    def state(self) -> BreakerState:
        record = self._fleet.record_for(self.service, self._fleet.now())
        if record is None or record.state == "ramp":
            return self.local.state
        return BreakerState.OPEN if record.is_open(self._fleet.now()) else BreakerState.HALF_OPEN

    def allow(self) -> bool:
        now = self._fleet.now()
        record = self._fleet.record_for(self.service, now)
        if record is None:
            return self.local.allow()
        if record.is_open(now):
            return False
        if record.is_half_open(now):
            self._probing = self._fleet.use_lease(self.service, now)
            return self._probing
        if self._ramp_seen != record.since:  # a new ramp: whatever the local breaker learnt is out of date
            self._ramp_seen = record.since
            self.local = dataclasses.replace(self.local)
        return self._fleet.draw() < ramp_share(now - record.since, self._fleet.policy)

    def retry_after_s(self) -> float:
        now = self._fleet.now()
        record = self._fleet.record_for(self.service, now)
        if record is None:
            return self.local.retry_after_s()
        if record.state == "open":
            return max(record.until - now, self._fleet.policy.busy_refresh_s)
        return 0.0

    def record_success(self) -> None:
        self._streak = 0
        self._streak_request = None
        if self._probing:
            self._probing = False
            self._fleet.report_probe(self.service, answered=True)
        self.local.record_success()

    def record_failure(self) -> None:
        if self._probing:
            self._probing = False
            self._fleet.report_probe(self.service, answered=False)
        if self._counts_a_step():
            record = self._fleet.record_for(self.service, self._fleet.now())
            if record is None or record.state == "ramp":
                self._fleet.report_failure(self.service, self._streak)
        self.local.record_failure()

    def _counts_a_step(self) -> bool:
        """Whether this failure is a new step of the streak: the first of its request (the calls of one request that
        fail together, e.g. a batch's per-id calls cut off by its deadline, are one step and one report)."""
        request = self._fleet.current_request()
        if request is not None and request is self._streak_request:
            return False
        self._streak_request = request
        self._streak += 1
        return True

    def record_abandoned(self) -> None:
        """Says nothing about the service; an abandoned probe's lease lapses by itself."""
        self._probing = False
        self.local.record_abandoned()
