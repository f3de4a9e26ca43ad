"""What a run means: each target of issue 14 beside its figure, and the cost model fed with this run's figures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt

from bench.cost import (
    GO_MEMORY_MB,
    PRICES_CHECKED,
    SOURCES,
    Assumptions,
    CostRow,
    Prices,
    Profile,
    Recommendation,
    recommend,
    table,
)
from bench.instructions import CONDITION as INSTRUCTIONS_CONDITION
from bench.model import (
    AS_DEPLOYED_CONDITION,
    CONTENDER,
    CONTENDER_CACHED,
    FLEET_LATENCY_CONDITION,
    FLEET_NOISE_CONDITION,
    FLEET_SHARED_REDIS,
    FLOOR,
    GO_REFERENCE,
    HIT_RATIO_CONDITION,
    NAIVE,
    CaseOutcome,
    Measurement,
)

INSTANT_CONDITION = "warm, 0/0/0 ms mocks"
SEED_CONDITION = "warm, 50/80/30 ms mocks"
LOAD_64 = "50/80/30 ms @ 64 clients"
LOAD_1 = "50/80/30 ms @ 1 clients"
# The shared reference facts (shared README): Go's BFF spends about 0.2 to 0.4 ms of CPU per request.
GO_CPU_MS = 0.3
GO_P50_MS_FALLBACK = 80.9


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    figure: float | None
    limit: float
    at_most: bool
    unit: str = ""

    @property
    def verdict(self) -> str:
        if self.figure is None:
            return "not measured"
        met = self.figure <= self.limit if self.at_most else self.figure >= self.limit
        return "met" if met else "missed"

    def row(self) -> list[str]:
        figure = "" if self.figure is None else f"{self.figure:g}{self.unit}"
        return [self.name, figure, f"{'≤' if self.at_most else '≥'} {self.limit:g}{self.unit}", self.verdict]


class Figures:
    """Looks up one metric of one subject in one case, by condition prefix."""

    def __init__(self, outcomes: Sequence[CaseOutcome]) -> None:
        self._by_case = {outcome.name: outcome for outcome in outcomes}

    def measurement(self, case: str, subject: str, condition: str) -> Measurement | None:
        outcome = self._by_case.get(case)
        if outcome is None:
            return None
        return next(
            (m for m in outcome.measurements if m.subject == subject and m.condition.startswith(condition)), None
        )

    def measurements(self, case: str) -> list[Measurement]:
        outcome = self._by_case.get(case)
        return list(outcome.measurements) if outcome is not None else []

    def metric(self, case: str, subject: str, condition: str, name: str) -> float | None:
        found = self.measurement(case, subject, condition)
        value = found.metrics.get(name) if found is not None else None
        return float(value) if isinstance(value, int | float) else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def targets(figures: Figures) -> list[Target]:
    cpu: Callable[[str], float | None] = lambda subject: figures.metric(  # noqa: E731
        "inprocess", subject, INSTANT_CONDITION, "cpu_ms_per_invocation"
    )
    instructions: Callable[[str], float | None] = lambda subject: figures.metric(  # noqa: E731
        "instructions", subject, INSTRUCTIONS_CONDITION, "instructions_per_invocation"
    )
    load: Callable[[str, str], float | None] = lambda subject, name: figures.metric(  # noqa: E731
        "load", subject, LOAD_64, name
    )
    artefacts = figures.metric("import", CONTENDER, "from the build artefacts", "import_ms_median")
    naive_shipped = figures.metric("import", NAIVE, "without .pyc", "import_ms_median")
    return [
        Target("CPU per warm invocation / floor (0 ms mocks)", _ratio(cpu(CONTENDER), cpu(FLOOR)), 1.5, True, "x"),
        Target("CPU per warm invocation / naive (0 ms mocks)", _ratio(cpu(CONTENDER), cpu(NAIVE)), 0.40, True, "x"),
        Target(
            "instructions per warm invocation / floor (callgrind, 0 ms mocks)",
            _ratio(instructions(CONTENDER), instructions(FLOOR)),
            1.5,
            True,
            "x",
        ),
        Target(
            "stdout bytes per healthy page at INFO, every section a miss",
            figures.metric("inprocess", CONTENDER, INSTANT_CONDITION, "stdout_bytes_per_page"),
            1200,
            True,
            " B",
        ),
        Target(
            "stdout bytes per healthy page at INFO, sections cached",
            figures.metric("inprocess", CONTENDER_CACHED, INSTANT_CONDITION, "stdout_bytes_per_page"),
            1200,
            True,
            " B",
        ),
        Target("errors, 1 worker, 64 clients, 50/80/30 ms", load(CONTENDER, "errors"), 0, True),
        Target("p99, 1 worker, 64 clients, 50/80/30 ms", load(CONTENDER, "p99_ms"), 100, True, " ms"),
        Target(
            "req/s / Go's, 1 worker, 64 clients",
            _ratio(load(CONTENDER, "requests_per_s"), load(GO_REFERENCE, "requests_per_s")),
            0.9,
            False,
            "x",
        ),
        Target(
            "handler import from the build artefacts / naive as shipped",
            _ratio(artefacts, naive_shipped),
            0.35,
            True,
            "x",
        ),
        Target(
            "handler import from the build artefacts, with the DynamoDB cache as deployed / naive as shipped",
            _ratio(_deployed_import(figures), naive_shipped),
            0.35,
            True,
            "x",
        ),
        *fleet_targets(figures),
    ]


def fleet_targets(figures: Figures) -> list[Target]:
    """Issue 23's targets at 1,000 environments, on Redis (the DynamoDB run's figures sit beside it in the case)."""
    shared: Callable[[str], float | None] = lambda name: figures.metric(  # noqa: E731
        "fleet", FLEET_SHARED_REDIS, "1000 environments", name
    )
    slowest = max(
        (
            figures.metric("fleet", measurement.subject, FLEET_LATENCY_CONDITION, "page_p50_ms") or 0.0
            for measurement in figures.measurements("fleet")
            if measurement.condition == FLEET_LATENCY_CONDITION
        ),
        default=None,
    )
    alone = figures.metric("fleet", "store no shared breaker", FLEET_LATENCY_CONDITION, "page_p50_ms")
    noise = figures.metric(
        "fleet", FLEET_SHARED_REDIS, FLEET_NOISE_CONDITION.format(share=0.01, count=1000), "false_trips"
    )
    return [
        Target(
            "fleet of 1,000: dead-service calls in the outage's first minute (physical lower bound 500)",
            shared("dead_calls_first_minute"),
            50,
            True,
        ),
        Target(
            "fleet of 1,000: dead-service calls per minute after the first (sustained)",
            shared("dead_calls_per_minute_after_the_first"),
            50,
            True,
        ),
        Target("fleet of 1,000: false trips of a healthy service failing 1 % of calls", noise, 0, True),
        Target(
            "fleet of 1,000: every environment stopped after the trip",
            shared("all_stopped_s_after_first_trip"),
            2,
            True,
            " s",
        ),
        Target("fleet of 1,000: probes per second while the service is dead", shared("probes_per_s"), 1, True),
        Target(
            "fleet of 1,000: store reads per environment per healthy minute",
            shared("store_reads_per_env_per_min_healthy"),
            6,
            True,
        ),
        Target(
            "fleet of 1,000: store writes per environment per healthy minute",
            shared("store_writes_per_env_per_min_healthy"),
            0,
            True,
        ),
        Target(
            "page p50 beside the slowest shared-breaker store / without one", _ratio(slowest, alone), 1.1, True, "x"
        ),
    ]


def _deployed_import(figures: Figures) -> float | None:
    return figures.metric("import", CONTENDER, AS_DEPLOYED_CONDITION, "import_ms_median")


def _python_profile(figures: Figures, subject: str, import_ms: float | None, *, uses_cache: bool) -> Profile | None:
    cpu = figures.metric("inprocess", subject, SEED_CONDITION, "cpu_ms_per_invocation")
    p50 = figures.metric("inprocess", subject, SEED_CONDITION, "p50_ms")
    if cpu is None or p50 is None:
        return None
    log_bytes = figures.metric("inprocess", subject, INSTANT_CONDITION, "stdout_bytes_per_page") or 0.0
    return Profile(subject, cpu, max(p50 - cpu, 0.0), import_ms, log_bytes, uses_cache, snapstart=subject == CONTENDER)


def profiles(figures: Figures) -> list[Profile]:
    contender_import = _deployed_import(figures)
    contender_import = contender_import or figures.metric(
        "import", CONTENDER, "from the build artefacts", "import_ms_median"
    )
    contender_import = contender_import or figures.metric("import", CONTENDER, "with .pyc", "import_ms_median")
    found = [
        _python_profile(figures, CONTENDER, contender_import, uses_cache=True),
        _python_profile(
            figures, NAIVE, figures.metric("import", NAIVE, "without .pyc", "import_ms_median"), uses_cache=False
        ),
    ]
    go_p50 = figures.metric("load", GO_REFERENCE, LOAD_1, "p50_ms") or GO_P50_MS_FALLBACK
    go = Profile(
        f"{GO_REFERENCE} (provided.al2023)", GO_CPU_MS, go_p50 - GO_CPU_MS, None, 0.0, False, (GO_MEMORY_MB,), False
    )
    return [*(p for p in found if p is not None), go]


@dataclass(frozen=True, slots=True)
class CostModel:
    rows: list[CostRow]
    recommendation: Recommendation | None
    assumptions: Assumptions
    prices: Prices
    hit_ratio_source: str = "assumed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "prices_checked": PRICES_CHECKED,
            "prices_usd_us_east_1": _fields(self.prices),
            "sources": SOURCES,
            "assumptions": _fields(self.assumptions),
            "l1_hit_ratio_source": self.hit_ratio_source,
            "rows": [row.as_dict() for row in self.rows],
            "recommended_memory_mb": self.recommendation.memory_mb if self.recommendation else None,
            "recommendation": self.recommendation.reason if self.recommendation else None,
        }


def _fields(instance: Any) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in instance.__slots__}


def cost_model(figures: Figures, prices: Prices | None = None, assumptions: Assumptions | None = None) -> CostModel:
    prices = prices or Prices()
    measured = figures.metric("hitratio", CONTENDER, HIT_RATIO_CONDITION, "l1_hit_ratio")
    if assumptions is None and measured is not None:
        assumptions, source = Assumptions(l1_hit_ratio=measured), f"measured: the hitratio case, {HIT_RATIO_CONDITION}"
    else:
        assumptions, source = assumptions or Assumptions(), "assumed"
    rows = table(profiles(figures), prices, assumptions)
    return CostModel(rows, recommend(rows, CONTENDER), assumptions, prices, source)


def write_cost_chart(model: CostModel, directory: Path) -> Path | None:
    if not model.rows:
        return None
    figure, axis = plt.subplots(figsize=(8, 5))
    colors = {CONTENDER: "tab:green", NAIVE: "tab:orange"}
    for subject in dict.fromkeys(row.subject for row in model.rows):
        own = [row for row in model.rows if row.subject == subject]
        color = colors.get(subject, "tab:blue")
        axis.plot([r.warm_ms for r in own], [r.total for r in own], marker="o", color=color, label=subject)
        for row in own:
            axis.annotate(
                f"{row.memory_mb} MB", (row.warm_ms, row.total), fontsize=7, xytext=(4, 4), textcoords="offset points"
            )
        with_snapstart = [r for r in own if r.total_with_snapstart is not None]
        if with_snapstart:
            axis.plot(
                [r.warm_ms for r in with_snapstart],
                [r.total_with_snapstart or 0.0 for r in with_snapstart],
                marker="x",
                linestyle="--",
                color=color,
                label=f"{subject} with SnapStart",
            )
    axis.set_xlabel("estimated warm p50 (ms) at 50/80/30 ms services")
    axis.set_ylabel("USD per million pages")
    axis.set_title(
        f"Cost per million pages against p50, one point per memory size (prices {PRICES_CHECKED})", fontsize=9
    )
    axis.grid(visible=True, alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = directory / "cost.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def markdown(target_rows: Sequence[Target], model: CostModel, chart: Path | None) -> list[str]:
    lines = ["## Targets (issue 14), this run", "", "| target | figure | limit | verdict |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(t.row()) + " |" for t in target_rows]
    lines += ["", f"## Cost per million pages (USD, us-east-1 list prices checked {PRICES_CHECKED})", ""]
    if chart is not None:
        lines += [f"![cost against p50]({chart.name})", ""]
    headers = [
        "subject", "MB", "warm p50 ms", "cold import ms", "compute", "requests", "API GW", "logs", "X-Ray",
        "DynamoDB", "INIT", "total", "SnapStart +/-", "total with SnapStart",
    ]  # fmt: skip
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in model.rows:
        cells = [
            row.subject,
            str(row.memory_mb),
            f"{row.warm_ms:.1f}",
            "n/a" if row.cold_import_ms is None else f"{row.cold_import_ms:.0f}",
            *(_money(v) for v in (row.lambda_compute, row.lambda_requests, row.api_gateway, row.logs, row.xray)),
            *(_money(v) for v in (row.dynamodb, row.init, row.total, row.snapstart_extra, row.total_with_snapstart)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    a, hit_ratio_source = model.assumptions, model.hit_ratio_source
    recommended = model.recommendation.reason if model.recommendation else "none (figures missing)"
    lines += [
        "",
        f"- Recommended MemorySize: {recommended}.",
        "- Duration: wait (p50 - CPU of the in-process run at 50/80/30 ms) + CPU x max(1769 / MB, 1); one core of "
        "this machine taken as Lambda's full vCPU at 1,769 MB. Cold import scaled the same way.",
        f"- Assumptions: X-Ray sampling {a.xray_sampling:.0%}; fragment cache L1 hit ratio {a.l1_hit_ratio:.0%} over "
        f"{a.cached_sections} sections ({hit_ratio_source}), {a.read_units_per_l2_read} read unit per L2 read (the "
        "contender's CPU, wait and log bytes are those of pages whose every section misses, an upper bound); "
        f"{a.platform_log_bytes} bytes "
        f"of Lambda START/END/REPORT lines per invocation; {a.cold_start_ratio:.0%} of invocations cold; SnapStart's "
        f"snapshot cache spread over {a.pages_per_month:,} pages a month, one live version.",
        f"- Go reference: {GO_CPU_MS} ms CPU per request (shared facts: 0.2 to 0.4 ms), p50 from this run's load case "
        f"at 1 client (else {GO_P50_MS_FALLBACK} ms); its init is not measured (n/a).",
        "- Free tiers are left out. Sources: " + "; ".join(f"{k}: {v}" for k, v in SOURCES.items()) + ".",
        "",
    ]
    return lines
