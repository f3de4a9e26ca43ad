"""Soak: steady concurrent load on the BFF app in process while the reviews mock flaps between ok and failing.

`python -m bench.soak [--seconds N]` (at most 60 s). The reviews mock is a real process restarted on the same
port with MOCK_FAULT=none and MOCK_FAULT=error in turn; product and inventory are healthy mock processes.
Checks that every response keeps the page policy, that RSS stays flat, and that the reviews breaker opens and
closes again. Prints a summary and exits 1 on any violation.
"""

import argparse
import asyncio
import logging
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from bench.procs import HOST, REPO_ROOT, free_port, python_env, running

# The app is driven in process; bench runs from the repo root, where functions/bff is not importable.
sys.path.insert(0, str(REPO_ROOT / "functions" / "bff"))

from bff.composition import build_app
from bff.config.settings import Settings
from bff.downstream.http import create_http_client
from bff.observability.logging import SERVICE_NAME

MAX_SECONDS = 60
MOCKS_DIR = REPO_ROOT / "mocks"
ALLOWED_NULL_REASONS = frozenset({"timeout", "unavailable", "bad_response", "circuit_open"})
ALLOWED_REASONS = ALLOWED_NULL_REASONS | {"stale"}
WARM_UP_S = 2.0
RSS_GROWTH_LIMIT_KIB = 32 * 1024
PROGRESS_EVERY_S = 10.0


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    def record(self, response: httpx.Response, latency_s: float) -> None:
        self.statuses[response.status_code] += 1
        self.latencies_s.append(latency_s)
        problem = policy_violation(response)
        if problem is not None:
            self.violations.append(problem)
            return
        for entry in response.json()["meta"]["degraded"]:
            self.reasons[f"{entry['source']}:{entry['reason']}"] += 1


def policy_violation(response: httpx.Response) -> str | None:
    """Why this response breaks the page policy under a flapping optional service, or None."""
    if response.status_code != 200:
        return f"status {response.status_code}: {response.text[:200]}"
    body: dict[str, Any] = response.json()
    degraded = {entry["source"]: entry["reason"] for entry in body["meta"]["degraded"]}
    if not isinstance(body.get("product"), dict):
        return f"no product: {body}"
    if any(reason not in ALLOWED_REASONS for reason in degraded.values()):
        return f"unknown degraded reason: {degraded}"
    for section in ("reviews", "inventory"):
        if body[section] is None and degraded.get(section) not in ALLOWED_NULL_REASONS:
            return f"{section} null without a degraded reason: {degraded}"
    if body["reviews"] is not None and not isinstance(body["reviews"], list):
        return f"reviews neither a list nor null: {body['reviews']!r}"
    if degraded and response.headers.get("cache-control") != "no-store":
        return f"degraded page cacheable: {response.headers.get('cache-control')}"
    return None


class TransitionRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.transitions: list[tuple[float, str, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "circuit breaker state changed":
            fields = record.__dict__
            self.transitions.append((time.monotonic(), fields["service"], fields["old_state"], fields["new_state"]))


@contextmanager
def recorded_breaker_transitions() -> Iterator[TransitionRecorder]:
    """Replaces the BFF logger's stdout handler with a recorder, so the summary is the only output."""
    logger = logging.getLogger(SERVICE_NAME)
    saved, recorder = list(logger.handlers), TransitionRecorder()
    logger.handlers = [recorder]
    try:
        yield recorder
    finally:
        logger.handlers = saved


def mock_command(name: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mockkit", "serve", name, "--host", HOST, "--port", str(port)]


@contextmanager
def healthy_mock(name: str) -> Iterator[str]:
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    with running(mock_command(name, port), [f"{base_url}/__mock/stats"], env=python_env([MOCKS_DIR])):
        yield base_url


def flap_reviews(port: int, phase_s: float, stop: threading.Event, phases: list[tuple[float, str]]) -> None:
    """Restart the reviews mock on `port`, healthy and failing in turn, until `stop` is set."""
    faults = ("none", "error")
    index = 0
    while not stop.is_set():
        fault = faults[index % 2]
        env = python_env([MOCKS_DIR], {"MOCK_FAULT": fault})
        with running(mock_command("reviews", port), [f"http://{HOST}:{port}/__mock/stats"], env=env):
            phases.append((time.monotonic(), fault))
            stop.wait(phase_s)
        index += 1


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def sample_rss(tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        tally.rss_kib.append(rss_kib())
        await asyncio.sleep(1.0)
    tally.rss_kib.append(rss_kib())


async def client_loop(client: httpx.AsyncClient, tally: Tally, until: float, rng: random.Random) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        response = await client.get(f"/product-details/P{rng.randint(1, 100):03d}")
        tally.record(response, time.perf_counter() - started)


async def report_progress(tally: Tally, started: float, until: float, out: TextIO) -> None:
    """A line every PROGRESS_EVERY_S, so a minute-long run is not a silent one."""
    total_s = until - started
    while (remaining := until - time.monotonic()) > PROGRESS_EVERY_S / 2:
        await asyncio.sleep(min(PROGRESS_EVERY_S, remaining))
        elapsed = min(time.monotonic() - started, total_s)
        requests = sum(tally.statuses.values())
        print(
            f"soak: {elapsed:4.0f} s of {total_s:.0f}, {requests} requests, {len(tally.violations)} violations",
            file=out,
            flush=True,
        )


async def drive_load(settings: Settings, seconds: float, clients: int, progress: TextIO) -> Tally:
    tally = Tally()
    started = time.monotonic()
    until = started + seconds
    async with create_http_client(settings) as downstream:
        app = build_app(settings, downstream)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bff.soak") as client:
            rngs = [random.Random(seed) for seed in range(clients)]
            await asyncio.gather(
                sample_rss(tally, until),
                report_progress(tally, started, until, progress),
                *(client_loop(client, tally, until, rng) for rng in rngs),
            )
    return tally


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def breaker_findings(transitions: list[tuple[float, str, str, str]]) -> list[str]:
    moves = [(old, new) for _, service, old, new in transitions if service == "reviews"]
    findings = []
    if ("closed", "open") not in moves:
        findings.append("the reviews breaker never opened")
    if ("half_open", "closed") not in moves:
        findings.append("the reviews breaker never closed again")
    if ("open", "closed") in moves:
        findings.append("the reviews breaker closed straight from open, without a half-open probe")
    if any(service != "reviews" for _, service, _, _ in transitions):
        findings.append(f"a healthy service's breaker moved: {transitions}")
    return findings


def summarise(
    tally: Tally, transitions: list[tuple[float, str, str, str]], phases: list[tuple[float, str]], started: float
) -> list[str]:
    requests = sum(tally.statuses.values())
    steady_rss = tally.rss_kib[min(int(WARM_UP_S), len(tally.rss_kib) - 1) :]
    rss_growth = steady_rss[-1] - steady_rss[0]
    print(f"requests            {requests} ({requests / max(time.monotonic() - started, 1e-9):.0f}/s)")
    print(f"by status           {dict(sorted(tally.statuses.items()))}")
    print(f"by degraded reason  {dict(tally.reasons.most_common())}")
    print(
        f"latency             p50 {percentile(tally.latencies_s, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(tally.latencies_s, 0.99) * 1000:.1f} ms, max {max(tally.latencies_s) * 1000:.1f} ms"
    )
    print(
        f"RSS (MiB)           start {tally.rss_kib[0] / 1024:.1f}, after warm-up {steady_rss[0] / 1024:.1f}, "
        f"end {tally.rss_kib[-1] / 1024:.1f}, max {max(tally.rss_kib) / 1024:.1f}"
    )
    print(f"reviews phases      {' '.join(f'{at - started:.1f}s:{fault}' for at, fault in phases)}")
    print(f"breaker transitions {len(transitions)}")
    for at, service, old, new in transitions:
        print(f"  {at - started:6.2f}s {service}: {old} -> {new}")
    findings = [*tally.violations[:20], *breaker_findings(transitions)]
    if rss_growth > RSS_GROWTH_LIMIT_KIB:
        findings.append(f"RSS grew by {rss_growth / 1024:.1f} MiB after warm-up")
    print(f"policy violations   {len(tally.violations)}")
    return findings


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=MAX_SECONDS, help=f"load duration, at most {MAX_SECONDS}")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--phase-seconds", type=float, default=3.0, help="reviews ok/failing phase length")
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}]")
    return args


def main() -> int:
    args = parse_args()
    reviews_port = free_port()
    stop, phases = threading.Event(), list[tuple[float, str]]()
    with healthy_mock("product") as product_url, healthy_mock("inventory") as inventory_url:
        settings = Settings.model_validate(
            {
                "PRODUCT_SERVICE_URL": product_url,
                "REVIEW_SERVICE_URL": f"http://{HOST}:{reviews_port}",
                "INVENTORY_SERVICE_URL": inventory_url,
                "CART_SERVICE_URL": inventory_url,
                "BREAKER_OPEN_MS": 1_000,
            }
        )
        flapper = threading.Thread(target=flap_reviews, args=(reviews_port, args.phase_seconds, stop, phases))
        flapper.start()
        try:
            while not phases and flapper.is_alive():
                time.sleep(0.05)
            print(
                f"soak: {args.seconds:.0f} s, {args.clients} clients, reviews flapping every "
                f"{args.phase_seconds:.0f} s; a line every {PROGRESS_EVERY_S:.0f} s, then the summary",
                flush=True,
            )
            progress = sys.stdout
            started = time.monotonic()
            # The app's logs and EMF metrics go to stdout: keep them out of the summary.
            with recorded_breaker_transitions() as recorder, open(os.devnull, "w") as devnull, redirect_stdout(devnull):
                tally = asyncio.run(drive_load(settings, args.seconds, args.clients, progress))
        finally:
            stop.set()
            flapper.join()
    findings = summarise(tally, recorder.transitions, phases, started)
    for finding in findings:
        print(f"VIOLATION: {finding}")
    print("soak: FAIL" if findings else "soak: OK")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
