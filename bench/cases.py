"""The bench cases. Each compares the contender with the baselines under identical conditions."""

import shutil
import statistics
import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.artefacts import build_host_artefacts, import_from_artefacts
from bench.coldimport import measure_cold_import
from bench.instructions import CONDITION as INSTRUCTIONS_CONDITION
from bench.instructions import LONG, SHORT, instructions_per_invocation
from bench.model import (
    AS_DEPLOYED_CONDITION,
    CONTENDER,
    CONTENDER_CACHED,
    DEPENDENCY_CONDITION,
    FLEET_LATENCY_CONDITION,
    FLEET_NOISE_CONDITION,
    FLOOR,
    GO_REFERENCE,
    HIT_RATIO_CONDITION,
    NAIVE,
    CaseOutcome,
    Measurement,
    Metric,
    Settings,
)
from bench.procs import ProcessStartError, python_env, run_python_json
from bench.services import (
    INSTANT,
    REFERENCE,
    MockLatency,
    MockServices,
    details_url,
    go_bff,
    go_mocks,
    uvicorn_app,
)
from bench.stats import summarize

NAIVE_MODULE = "bench.baselines.naive.app"
FLOOR_HANDLER = "bench.baselines.floor.app:handler"
ARTEFACTS_DIR = Path(__file__).resolve().parent / ".build" / "artefacts"
LOAD_CLIENTS = (1, 16, 64)
TAIL = MockLatency(reviews_tail_rate=0.05, reviews_tail_ms=400)
TAIL_CLIENTS = (16,)
HEDGING_OFF = {"PRODUCT_HEDGE_DELAY_MS": "0", "REVIEW_HEDGE_DELAY_MS": "0", "INVENTORY_HEDGE_DELAY_MS": "0"}
CONTENDER_HEDGING_OFF = f"{CONTENDER} (hedging off)"
IN_PROCESS_INVOCATIONS = 1200
IN_PROCESS_REFERENCE_INVOCATIONS = 300
IN_PROCESS_ROUNDS = 3
# Healthy pages whose stdout is counted (at INFO), after the timed ones.
LOG_SAMPLE_INVOCATIONS = 50
INFO_LOGS = {"POWERTOOLS_LOG_LEVEL": "INFO", "LOG_LEVEL": "INFO"}
# The template's configuration: the fragment cache's table (whose address here refuses at once).
DEPLOYED_CACHE = {
    "CACHE_TABLE_NAME": "bench-fragments",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
}
# Each optional dependency, imported after the handler (so the figure is what it adds), and when a Lambda pays it.
DEPENDENCY_IMPORTS = {
    "bff.cache.dynamodb": "init, when CACHE_TABLE_NAME is set (the template sets it): aiobotocore and botocore",
    "bff.cache.redis": "init, when CACHE_URL is set instead: redis-py",
    "aws_lambda_powertools.utilities.parameters": "init, when SERVICE_REGISTRY_PATH is set (the SSM registry)",
    "aws_lambda_powertools.utilities.idempotency": "the first cart write (and boto3 with it), or the snapshot",
    "babel.numbers": "the first priced answer (and each locale's data), or the snapshot",
    "bff.observability.otel": "init, when an OTLP endpoint is set (TraceExport): the SDK, OTLP/HTTP, requests",
    "joserfc.jwt": "never in Lambda: the HTTP API's JWT authorizer checks tokens; only the local API imports it",
}
# Importing a handler needs its configuration, never a live service.
UNREACHABLE_SERVICES = MockServices("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9")

type Case = Callable[[Settings, CaseOutcome], None]


def _statuses(counts: dict[str, int]) -> str:
    return " ".join(f"{code}:{count}" for code, count in sorted(counts.items()))


def _drive(url: str, clients: int, settings: Settings, subject: str, condition: str) -> Measurement:
    args = [url, f"--clients={clients}", f"--duration={settings.load_seconds}"]
    report = run_python_json("bench.loadgen", args, python_env([]), timeout_s=120)
    latency = report["latency"]
    metrics: dict[str, Metric] = {
        "requests_per_s": report["requests_per_s"],
        **{key: latency[key] for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")},
        "requests": report["requests"],
        "errors": report["error_count"],
        "statuses": _statuses(report["statuses"]) + "".join(f" {e}:{n}" for e, n in report["errors"].items()),
        "generator_cpu_ms_per_request": report["generator_cpu_ms_per_request"],
        "generator_cpu_utilization": report["generator_cpu_utilization"],
    }
    return Measurement(subject, condition, metrics, report["latencies_ms"])


def _drive_each(
    base_url: str, subject: str, settings: Settings, latency: MockLatency, clients: Sequence[int]
) -> list[Measurement]:
    return [
        _drive(details_url(base_url), count, settings, subject, f"{latency.label} @ {count} clients")
        for count in clients
    ]


def _load(settings: Settings, outcome: CaseOutcome, latency: MockLatency, clients: Sequence[int]) -> None:
    go = settings.require_go()
    with go_mocks(go, latency) as services:
        with go_bff(go, services) as base_url:
            outcome.measurements += _drive_each(base_url, GO_REFERENCE, settings, latency, clients)
        apps: list[tuple[str, str, Sequence[Path], dict[str, str]]] = [
            (NAIVE, f"{NAIVE_MODULE}:app", (), {}),
            (CONTENDER, settings.app, settings.sys_path, {}),
        ]
        if latency is TAIL:
            apps.append((CONTENDER_HEDGING_OFF, settings.app, settings.sys_path, HEDGING_OFF))
        for subject, app, sys_path, extra_env in apps:
            try:
                with uvicorn_app(app, sys_path, services, extra_env) as base_url:
                    outcome.measurements += _drive_each(base_url, subject, settings, latency, clients)
            except ProcessStartError as error:
                outcome.notes.append(f"{subject} app {app} did not start: {error}")


def load_case(settings: Settings, outcome: CaseOutcome) -> None:
    _load(settings, outcome, REFERENCE, LOAD_CLIENTS)


def tail_case(settings: Settings, outcome: CaseOutcome) -> None:
    _load(settings, outcome, TAIL, TAIL_CLIENTS)


def loadgen_case(settings: Settings, outcome: CaseOutcome) -> None:
    with go_mocks(settings.require_go(), INSTANT) as services:
        url = f"{services.inventory_url}/inventory/42"
        outcome.measurements.append(_drive(url, 64, settings, "loadgen", "Go inventory mock, 0 ms @ 64 clients"))
    outcome.notes.append(
        "The generator's ceiling: the req/s it drives against a 0 ms Go mock, and its own CPU per request."
        " It shares the 2 cores with the server under test: a load row whose generator_cpu_utilization"
        " nears 1.0 was limited by the generator, not by the server."
    )


type Subject = tuple[str, str, Sequence[Path], Sequence[str]]
"""Name, handler, import roots and extra probe arguments of one in-process subject."""


def _handlers(settings: Settings, *, with_variants: bool = False) -> list[Subject]:
    floor: list[Subject] = [(FLOOR, FLOOR_HANDLER, (), ())] if with_variants else []
    cached: list[Subject] = [(CONTENDER_CACHED, settings.handler, settings.sys_path, ("--same-id",))]
    return [
        *floor,
        (NAIVE, f"{NAIVE_MODULE}:handler", (), ()),
        (CONTENDER, settings.handler, settings.sys_path, ()),
        *(cached if with_variants else []),
    ]


def _invoke_each(
    settings: Settings,
    outcome: CaseOutcome,
    args: list[str],
    *,
    in_parallel: bool = False,
    latency: MockLatency = INSTANT,
    with_variants: bool = False,
) -> list[tuple[str, Any]]:
    """Run the in-process probe for every handler against Go mocks (0 ms by default); (subject, report) pairs.

    Only measurements that do not depend on CPU time (RSS) may run `in_parallel`.
    """
    handlers = _handlers(settings, with_variants=with_variants)
    reports: list[tuple[str, Any]] = []
    with go_mocks(settings.require_go(), latency) as services:

        def probe(handler: str, sys_path: Sequence[Path], extra: Sequence[str]) -> Any:
            env = python_env(sys_path, services.as_env() | INFO_LOGS)
            return run_python_json("bench.inprocess", [handler, *args, *extra], env, timeout_s=240)

        with ThreadPoolExecutor(max_workers=len(handlers) if in_parallel else 1) as pool:
            futures = [
                (subject, handler, pool.submit(probe, handler, path, extra))
                for subject, handler, path, extra in handlers
            ]
            for subject, handler, future in futures:
                try:
                    reports.append((subject, future.result()))
                except RuntimeError as error:
                    outcome.notes.append(f"{subject} handler {handler} unavailable: {error}")
    return reports


def inprocess_case(settings: Settings, outcome: CaseOutcome) -> None:
    _inprocess(settings, outcome, INSTANT, IN_PROCESS_INVOCATIONS)
    _inprocess(settings, outcome, REFERENCE, IN_PROCESS_REFERENCE_INVOCATIONS)


def _inprocess(settings: Settings, outcome: CaseOutcome, latency: MockLatency, invocations: int) -> None:
    """Each subject in IN_PROCESS_ROUNDS alternating rounds (floor, naive, contender, …, then again), so that the
    machine's drifting speed weighs on every subject alike: CPU is the median round's, latencies all rounds'."""
    per_round = invocations // IN_PROCESS_ROUNDS
    condition = f"warm, {latency.label} mocks, {invocations} invocations in {IN_PROCESS_ROUNDS} alternating rounds"
    args = [f"--invocations={per_round}", f"--log-sample={LOG_SAMPLE_INVOCATIONS}"]
    rounds: dict[str, list[Any]] = {}
    for _ in range(IN_PROCESS_ROUNDS):
        for subject, report in _invoke_each(settings, outcome, args, latency=latency, with_variants=True):
            rounds.setdefault(subject, []).append(report)
    for subject, reports in rounds.items():
        latencies_ms = [value for report in reports for value in report["latencies_ms"]]
        summary = summarize(latencies_ms).as_dict()
        metrics: dict[str, Metric] = {
            "cpu_ms_per_invocation": statistics.median(report["cpu_ms_per_invocation"] for report in reports),
            "cpu_ms_per_round": " ".join(f"{report['cpu_ms_per_invocation']:.3f}" for report in reports),
            **{key: summary[key] for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")},
            "statuses": _statuses(_summed_statuses(reports)),
            **reports[0]["log_volume"],
        }
        outcome.measurements.append(Measurement(subject, condition, metrics, latencies_ms))


def _summed_statuses(reports: Sequence[Any]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for report in reports:
        total.update(report["statuses"])
    return total


def instructions_case(settings: Settings, outcome: CaseOutcome) -> None:
    if shutil.which("valgrind") is None:
        outcome.skipped = "skipped: valgrind is not installed (make bench installs it with apt-get where it can)"
        return
    subjects = [subject for subject in _handlers(settings, with_variants=True) if subject[0] in {FLOOR, CONTENDER}]
    with go_mocks(settings.require_go(), INSTANT) as services:

        def count(handler: str, sys_path: Sequence[Path], extra: Sequence[str]) -> int:
            env = python_env(sys_path, services.as_env() | INFO_LOGS)
            return instructions_per_invocation(handler, env, extra)

        with ThreadPoolExecutor(max_workers=len(subjects)) as pool:  # counts do not depend on the other's load
            futures = [(name, pool.submit(count, handler, path, extra)) for name, handler, path, extra in subjects]
            for name, future in futures:
                metrics: dict[str, Metric] = {"instructions_per_invocation": future.result()}
                outcome.measurements.append(Measurement(name, INSTRUCTIONS_CONDITION, metrics))
    outcome.notes.append(
        "Instructions counted by callgrind: the difference between "
        f"{LONG} and {SHORT} warm invocations after the same warm-up, divided by {LONG - SHORT}; timeouts and "
        "hedge delays generous (hedges armed, none fired), since callgrind runs code about fifty times slower. "
        "The naive build is not counted: its 500 ms deadline is fixed in its code and expires under callgrind."
    )


def memory_case(settings: Settings, outcome: CaseOutcome) -> None:
    args = ["--warmup=0", "--invocations=10000", "--rss-at", "100", "10000"]
    for subject, report in _invoke_each(settings, outcome, args, in_parallel=True):
        after_100, after_10000 = report["rss_kib_after"]["100"], report["rss_kib_after"]["10000"]
        metrics: dict[str, Metric] = {
            "rss_kib_after_100": after_100,
            "rss_kib_after_10000": after_10000,
            "rss_growth_kib": after_10000 - after_100,
            "statuses": _statuses(report["statuses"]),
        }
        outcome.measurements.append(Measurement(subject, "0 ms mocks, 10000 invocations", metrics))


def import_case(settings: Settings, outcome: CaseOutcome) -> None:
    targets = [(NAIVE, NAIVE_MODULE, ()), (CONTENDER, settings.handler_module, settings.sys_path)]
    for subject, module, sys_path in targets:
        env = python_env(sys_path, UNREACHABLE_SERVICES.as_env())
        for bytecode in (True, False):
            try:
                result = measure_cold_import(module, env, settings.import_repeats, bytecode=bytecode)
            except RuntimeError as error:
                outcome.notes.append(f"{subject} module {module} did not import: {error}")
                break
            condition = f"{'with' if bytecode else 'without'} .pyc, median of {result.repeats}"
            outcome.measurements.append(Measurement(subject, condition, {**result.metrics()}))
    _import_with_tracing(settings, outcome)
    _import_dependencies(settings, outcome)
    _import_built_artefacts(settings, outcome)


TRACING_ON = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}


def _import_with_tracing(settings: Settings, outcome: CaseOutcome) -> None:
    """The contender's import with tracing on (an OTLP endpoint set: the SDK, the exporter and `requests` load
    during init); the rows above are tracing off."""
    env = {**python_env(settings.sys_path, UNREACHABLE_SERVICES.as_env()), **TRACING_ON}
    for bytecode in (True, False):
        result = measure_cold_import(settings.handler_module, env, settings.import_repeats, bytecode=bytecode)
        condition = f"{'with' if bytecode else 'without'} .pyc, tracing on, median of {result.repeats}"
        outcome.measurements.append(Measurement(CONTENDER, condition, {**result.metrics()}))


def _import_dependencies(settings: Settings, outcome: CaseOutcome) -> None:
    """What each optional dependency adds to a handler already imported, and where that cost lands."""
    env = python_env(settings.sys_path, UNREACHABLE_SERVICES.as_env())
    for module, lands in DEPENDENCY_IMPORTS.items():
        try:
            result = measure_cold_import(
                module, env, settings.import_repeats, bytecode=True, after=(settings.handler_module,)
            )
        except RuntimeError as error:
            outcome.notes.append(f"dependency {module} did not import after the handler: {error}")
            continue
        metrics: dict[str, Metric] = {"import_ms_median": result.import_ms_median, "lands": lands}
        condition = f"{DEPENDENCY_CONDITION} {module}, median of {result.repeats}"
        outcome.measurements.append(Measurement(CONTENDER, condition, metrics))


def _import_built_artefacts(settings: Settings, outcome: CaseOutcome) -> None:
    """The contender as `sam build` ships it (its two Makefiles, rebuilt for this machine's architecture), with
    the services' URLs alone, and as the template deploys it: with the DynamoDB fragment cache (its client is
    created and warmed during init; the table's address here refuses at once)."""
    try:
        artefacts = build_host_artefacts(ARTEFACTS_DIR)
    except (RuntimeError, subprocess.CalledProcessError) as error:
        outcome.notes.append(f"the build artefacts were not rebuilt here, so their import is not measured: {error}")
        return
    for condition, extra in (("from the build artefacts", {}), (AS_DEPLOYED_CONDITION, DEPLOYED_CACHE)):
        env = python_env([], UNREACHABLE_SERVICES.as_env() | extra)
        try:
            result, pyc_written = import_from_artefacts(
                artefacts, settings.handler_module, env, settings.import_repeats
            )
        except RuntimeError as error:
            outcome.notes.append(f"the handler did not import from the build artefacts ({condition}): {error}")
            continue
        metrics: dict[str, Metric] = {**result.metrics(), "pyc_written": pyc_written}
        outcome.measurements.append(Measurement(CONTENDER, f"{condition}, median of {result.repeats}", metrics))
    outcome.notes.append(
        "`from the build artefacts`: the layer's and the function's Makefiles run as `sam build` runs them, with "
        "the wheel platform of this machine; imported by the base interpreter with only those directories on "
        "its path, allowed to write bytecode (pyc_written counts each .pyc written or rewritten). "
        f"`{AS_DEPLOYED_CONDITION}`: the same with CACHE_TABLE_NAME set, as the template sets it."
    )


def hit_ratio_case(settings: Settings, outcome: CaseOutcome) -> None:
    """The share of downstream calls the L1 fragment cache saves under bench.cache's spread load, which the cost
    model takes as the L1 hit ratio."""
    del settings
    try:
        report = run_python_json("bench.cache", ["--hit-ratio"], python_env([]), timeout_s=300)
    except (RuntimeError, subprocess.SubprocessError) as error:
        outcome.notes.append(f"the hit ratio was not measured: {error}")
        return
    metrics: dict[str, Metric] = {
        "l1_hit_ratio": report["l1_hit_ratio"],
        "downstream_calls_without_cache": report["without_cache"]["downstream_calls"],
        "downstream_calls_with_l1": report["with_l1"]["downstream_calls"],
    }
    outcome.measurements.append(Measurement(CONTENDER, HIT_RATIO_CONDITION, metrics))


FLEET_CHART = "fleet-recovery.png"
FLEET_METRICS = (
    "dead_calls_first_minute",
    "first_minute_physical_lower_bound",
    "dead_calls_per_minute_after_the_first",
    "dead_calls_per_minute_once_all_stopped",
    "first_trip_s_after_death",
    "all_stopped_s_after_first_trip",
    "probes_per_s",
    "full_load_after_recovery_s",
    "store_reads_per_env_per_min_healthy",
    "store_writes_per_env_per_min_healthy",
    "store_reads_per_env_per_min_dead",
    "store_writes_per_env_per_min_dead",
    "store_reads_per_env_per_min_recovered",
    "store_errors",
    "wall_s",
)
FLEET_NOISE_METRICS = (
    "failures_seen_per_s",
    "false_trips",
    "calls_refused_share",
    "store_reads_per_env_per_min",
    "store_writes_per_env_per_min",
    "store_errors",
    "wall_s",
)


def fleet_case(settings: Settings, outcome: CaseOutcome) -> None:
    """bench.fleet: a simulated fleet against a dead, then recovered service, today's per-environment breaker
    beside the shared one on Redis and DynamoDB (moto), and the shared one against a noisy healthy service; and a
    page's latency with the shared breaker's store healthy, slow, hung or refusing."""
    chart = settings.results / FLEET_CHART
    report = run_python_json("bench.fleet", ["--chart", str(chart)], python_env([]), timeout_s=3600)
    for row in report["rows"]:
        if "noise" in row:
            metrics: dict[str, Metric] = {name: row[name] for name in FLEET_NOISE_METRICS if row.get(name) is not None}
            condition = FLEET_NOISE_CONDITION.format(share=row["noise"], count=row["environments"])
            outcome.measurements.append(Measurement(row["subject"], condition, metrics))
            continue
        metrics = {name: row[name] for name in FLEET_METRICS if row.get(name) is not None}
        metrics["dead_calls_per_minute"] = " ".join(str(calls) for calls in row["dead_calls_per_minute"])
        metrics["recovered_load_share_per_s"] = " ".join(f"{share:.2f}" for share in row["recovered_load_share_per_s"])
        outcome.measurements.append(Measurement(row["subject"], f"{row['environments']} environments", metrics))
    for row in report["latency"]:
        metrics = {f"page_{name}": row[name] for name in ("p50_ms", "p99_ms")}
        metrics["store_operations"] = row["store_operations"]
        outcome.measurements.append(Measurement(f"store {row['store']}", FLEET_LATENCY_CONDITION, metrics))
    outcome.notes.append(f"![load on the recovered service]({FLEET_CHART})")
    outcome.notes.append(
        "Virtual time, 5 pages/s per environment, one reviews call a page; healthy 30 s, dead 3 minutes, recovered "
        "20 s. A dead call fails after 0.1 s, so the fleet's first 0.1 s of calls (fleet rate x 0.1 s: the "
        "physical lower bound) reach the dead service before any failure exists. Store operations are round trips "
        "per environment per minute of each phase. Noise rows: a healthy service failing a share of calls at "
        "random for 2 minutes; a false trip is any opening of the service. The latency rows are real time: 300 "
        "pages in process, services answering in 20 ms, the copy due every second (a sync cut off by its "
        "response waits a second before the next try)."
    )


@dataclass(frozen=True, slots=True)
class CaseSpec:
    title: str
    key_metrics: tuple[str, ...]
    run: Case


CASES: dict[str, CaseSpec] = {
    "loadgen": CaseSpec("Load generator ceiling and overhead", (), loadgen_case),
    "load": CaseSpec(
        "HTTP under load: Go BFF vs uvicorn (1 worker) apps, 50/80/30 ms mocks",
        ("requests_per_s", "p50_ms", "p99_ms"),
        load_case,
    ),
    "tail": CaseSpec(
        "HTTP under load with a reviews tail (5% at 400 ms), 16 clients",
        ("requests_per_s", "p50_ms", "p99_ms"),
        tail_case,
    ),
    "inprocess": CaseSpec(
        "In-process Lambda handler: CPU, latency and stdout bytes per warm invocation (the floor beside)",
        ("cpu_ms_per_invocation", "p50_ms", "p99_ms", "stdout_bytes_per_page"),
        inprocess_case,
    ),
    "instructions": CaseSpec(
        "Instructions per warm invocation (callgrind), 0 ms mocks, every section a miss",
        ("instructions_per_invocation",),
        instructions_case,
    ),
    "memory": CaseSpec(
        "RSS after 100 vs 10,000 warm invocations",
        ("rss_kib_after_10000", "rss_growth_kib"),
        memory_case,
    ),
    "import": CaseSpec(
        "Cold import of the handler module in a fresh interpreter, and what each optional dependency adds",
        ("import_ms_median", "rss_kib_median"),
        import_case,
    ),
    "fleet": CaseSpec(
        "A fleet against a dead, then recovered service: per-environment vs shared breaker (Redis, DynamoDB)",
        ("dead_calls_first_minute", "dead_calls_per_minute_after_the_first", "probes_per_s"),
        fleet_case,
    ),
    "hitratio": CaseSpec(
        "Downstream calls the L1 fragment cache saves: 1,000 pages over 100 ids, 10 at a time, 50/80/30 ms mocks",
        ("l1_hit_ratio",),
        hit_ratio_case,
    ),
}
