import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.coldimport import measure_cold_import
from bench.cost import Assumptions, CostRow, Prices, Profile, estimate, recommend, table
from bench.inprocess import stdout_per_page
from bench.model import AS_DEPLOYED_CONDITION, CONTENDER, FLOOR, HIT_RATIO_CONDITION, NAIVE, CaseOutcome, Measurement
from bench.summary import Figures, Target, cost_model, markdown, targets, write_cost_chart

PRICES = Prices()
ASSUMPTIONS = Assumptions()


def profile(cpu_ms: float = 10.0, wait_ms: float = 80.0, import_ms: float | None = 500.0) -> Profile:
    return Profile(CONTENDER, cpu_ms, wait_ms, import_ms, log_bytes=1000.0, uses_cache=True)


def test_cpu_shrinks_with_memory_up_to_a_full_vcpu_and_the_wait_does_not() -> None:
    at = {memory: estimate(profile(), memory, PRICES, ASSUMPTIONS) for memory in (128, 1769)}

    assert at[1769].warm_ms == pytest.approx(90.0)
    assert at[128].warm_ms == pytest.approx(80.0 + 10.0 * 1769 / 128, abs=0.01)
    assert at[128].cold_import_ms == pytest.approx(500.0 * 1769 / 128, abs=0.1)


def test_compute_is_billed_per_started_millisecond_in_gb_seconds_at_the_arm64_price() -> None:
    row = estimate(profile(cpu_ms=0.5, wait_ms=80.2), 1769, PRICES, ASSUMPTIONS)

    # 80.7 ms bills as 81 ms, at 1769 MB (1.7275 GB), for a million pages.
    assert row.lambda_compute == pytest.approx(1_000_000 * 0.081 * 1769 / 1024 * PRICES.lambda_arm_gb_s)


def test_log_cost_counts_the_measured_bytes_and_lambdas_own_lines() -> None:
    row = estimate(profile(), 1024, PRICES, Assumptions(platform_log_bytes=300))

    assert row.logs == pytest.approx(1_000_000 * 1300 / 1024**3 * 0.50)


def test_only_a_subject_with_the_fragment_cache_reads_dynamodb() -> None:
    cached = estimate(profile(), 512, PRICES, Assumptions(l1_hit_ratio=0.5, cached_sections=2))
    uncached = estimate(Profile(NAIVE, 10.0, 80.0, 500.0, 0.0, uses_cache=False), 512, PRICES, ASSUMPTIONS)

    # 2 sections x 50% L1 misses x half a read unit = 0.5 read units per page.
    assert cached.dynamodb == pytest.approx(0.5 * PRICES.dynamodb_read_units_per_million)
    assert uncached.dynamodb == 0.0


def test_snapstart_replaces_the_init_phase_with_its_restore_and_cache_charges() -> None:
    row = estimate(profile(), 1024, PRICES, ASSUMPTIONS)
    cold_starts = 1_000_000 * ASSUMPTIONS.cold_start_ratio
    restores = cold_starts * 1.0 * PRICES.snapstart_restore_per_gb
    cache = 30 * 24 * 3600 * PRICES.snapstart_cache_gb_s * 1_000_000 / ASSUMPTIONS.pages_per_month

    assert row.init == pytest.approx(cold_starts * math.ceil(500.0 * 1769 / 1024) / 1000 * PRICES.lambda_arm_gb_s)
    assert row.snapstart_extra == pytest.approx(restores + cache - row.init)
    assert row.total_with_snapstart == pytest.approx(row.total + (row.snapstart_extra or 0.0))


def test_the_recommendation_is_the_cheapest_size_near_the_fastest_with_an_acceptable_cold_start() -> None:
    rows = table([profile(cpu_ms=6.0, wait_ms=78.0, import_ms=500.0)], PRICES, ASSUMPTIONS)

    recommendation = recommend(rows, CONTENDER)

    # 1769 MB: 84 ms; 1024: 88.4 (ok); 512: 98.7 (over 1.10x); cold import at 1024 MB: 864 ms (ok).
    assert recommendation is not None
    assert recommendation.memory_mb == 1024


def test_when_no_size_imports_quickly_the_cheapest_warm_enough_size_is_named_with_a_caveat() -> None:
    rows = table([profile(cpu_ms=6.0, wait_ms=78.0, import_ms=5000.0)], PRICES, ASSUMPTIONS)

    recommendation = recommend(rows, CONTENDER)

    assert recommendation is not None
    assert recommendation.memory_mb == 1024
    assert "no size within the warm limit imports in under 1000 ms" in recommendation.reason


def test_no_recommendation_without_figures() -> None:
    assert recommend([], CONTENDER) is None


def outcome(name: str, *measurements: Measurement) -> CaseOutcome:
    return CaseOutcome(name, name, (), list(measurements))


def inprocess(subject: str, condition: str, **metrics: Any) -> Measurement:
    return Measurement(subject, condition, metrics)


def test_targets_read_the_contender_against_the_floor_and_naive_in_the_same_run() -> None:
    figures = Figures(
        [
            outcome(
                "inprocess",
                inprocess(FLOOR, "warm, 0/0/0 ms mocks, 1000 invocations", cpu_ms_per_invocation=0.6),
                inprocess(NAIVE, "warm, 0/0/0 ms mocks, 1000 invocations", cpu_ms_per_invocation=2.0),
                inprocess(
                    CONTENDER,
                    "warm, 0/0/0 ms mocks, 1000 invocations",
                    cpu_ms_per_invocation=1.2,
                    stdout_bytes_per_page=3076.0,
                ),
            )
        ]
    )

    found = {target.name: target for target in targets(figures)}

    floor = found["CPU per warm invocation / floor (0 ms mocks)"]
    naive = found["CPU per warm invocation / naive (0 ms mocks)"]
    logs = found["stdout bytes per healthy page at INFO, every section a miss"]
    assert (floor.figure, floor.verdict) == (2.0, "missed")
    assert (naive.figure, naive.verdict) == (0.6, "missed")
    assert (logs.figure, logs.verdict) == (3076.0, "missed")
    assert found["stdout bytes per healthy page at INFO, sections cached"].verdict == "not measured"
    assert found["p99, 1 worker, 64 clients, 50/80/30 ms"].verdict == "not measured"


def test_an_at_least_target_is_met_at_or_above_its_limit() -> None:
    assert Target("rps", 0.95, 0.9, at_most=False).verdict == "met"
    assert Target("rps", 0.51, 0.9, at_most=False).verdict == "missed"


def test_the_cost_model_runs_on_a_runs_figures_and_charts_them(tmp_path: Path) -> None:
    seed = "warm, 50/80/30 ms mocks, 300 invocations"
    instant = "warm, 0/0/0 ms mocks, 1000 invocations"
    figures = Figures(
        [
            outcome(
                "inprocess",
                inprocess(CONTENDER, seed, cpu_ms_per_invocation=6.0, p50_ms=84.0),
                inprocess(CONTENDER, instant, cpu_ms_per_invocation=2.0, stdout_bytes_per_page=3000.0),
                inprocess(NAIVE, seed, cpu_ms_per_invocation=6.5, p50_ms=84.5),
            ),
            outcome(
                "import", Measurement(CONTENDER, "from the build artefacts, median of 3", {"import_ms_median": 500})
            ),
        ]
    )

    model = cost_model(figures)

    subjects = [row.subject for row in model.rows]
    assert subjects.count(CONTENDER) == 5
    assert subjects.count(NAIVE) == 5
    assert [row.memory_mb for row in model.rows if row.subject.startswith("go-reference")] == [128]
    assert model.recommendation is not None
    chart = write_cost_chart(model, tmp_path)
    assert chart is not None
    assert chart.stat().st_size > 0
    assert any("| contender | 1024 |" in line for line in markdown(targets(figures), model, chart))


def test_every_row_serialises_with_rounded_money() -> None:
    row: CostRow = estimate(profile(), 256, PRICES, ASSUMPTIONS)

    serialised = row.as_dict()

    assert serialised["memory_mb"] == 256
    assert isinstance(serialised["total"], float)


def test_stdout_per_page_counts_what_reaches_file_descriptor_one() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert sys.__stdout__ is not None
        sys.__stdout__.write("x" * 99 + "\n")  # through the interpreter's own stdout, as Powertools writes
        os.write(1, b"yyyy\n")  # 5 bytes straight to the descriptor
        return {"statusCode": 200, "body": "{}"}

    counted = stdout_per_page(handler, 4, iter(["P1", "P2", "P3", "P4"]))

    assert counted["stdout_bytes_per_page"] == 105.0
    assert counted["stdout_lines_per_page"] == 2.0
    assert counted["response_bytes"] == 2
    assert counted["log_sample_statuses"] == "200"
    assert os.write(1, b"") == 0  # the descriptor is usable again afterwards


def seed_run(*extra: CaseOutcome) -> Figures:
    seed = "warm, 50/80/30 ms mocks, 300 invocations"
    return Figures(
        [
            outcome("inprocess", inprocess(CONTENDER, seed, cpu_ms_per_invocation=6.0, p50_ms=84.0)),
            outcome(
                "import",
                Measurement(NAIVE, "without .pyc, median of 3", {"import_ms_median": 1000}),
                Measurement(CONTENDER, "from the build artefacts, median of 3", {"import_ms_median": 300}),
                Measurement(CONTENDER, f"{AS_DEPLOYED_CONDITION}, median of 3", {"import_ms_median": 400}),
            ),
            *extra,
        ]
    )


def test_the_measured_hit_ratio_sets_the_fragment_caches_dynamodb_reads() -> None:
    # Given a run whose hitratio case measured 90 % of the calls saved by L1
    measured = outcome("hitratio", Measurement(CONTENDER, f"{HIT_RATIO_CONDITION}", {"l1_hit_ratio": 0.9}))
    # When the cost model runs with and without it
    with_measurement, without = cost_model(seed_run(measured)), cost_model(seed_run())
    # Then the measured ratio is used and said to be measured; without it, the assumption is named as such
    assert with_measurement.assumptions.l1_hit_ratio == 0.9
    assert with_measurement.hit_ratio_source.startswith("measured")
    assert (without.assumptions.l1_hit_ratio, without.hit_ratio_source) == (Assumptions().l1_hit_ratio, "assumed")
    contender = [row for row in with_measurement.rows if row.subject == CONTENDER]
    baseline = [row for row in without.rows if row.subject == CONTENDER]
    assert all(
        math.isclose(a.dynamodb / b.dynamodb, (1 - 0.9) / (1 - Assumptions().l1_hit_ratio))
        for a, b in zip(contender, baseline, strict=True)
    )


def test_the_import_target_reads_both_the_plain_and_the_deployed_configuration() -> None:
    found = {target.name: target for target in targets(seed_run())}
    plain = found["handler import from the build artefacts / naive as shipped"]
    deployed = found["handler import from the build artefacts, with the DynamoDB cache as deployed / naive as shipped"]
    assert (plain.figure, plain.verdict) == (0.3, "met")
    assert (deployed.figure, deployed.verdict) == (0.4, "missed")
    # And the cost model's INIT uses the deployed import
    assert {
        row.cold_import_ms for row in cost_model(seed_run()).rows if row.subject == CONTENDER and row.memory_mb == 1769
    } == {400}


def test_a_dependency_is_timed_after_the_modules_loaded_before_it(tmp_path: Path) -> None:
    # Given a module that takes 300 ms to import, and one that only imports it
    (tmp_path / "slow_module.py").write_text("import time\ntime.sleep(0.3)\n")
    (tmp_path / "uses_slow.py").write_text("import slow_module\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    # When the second is timed alone, and after the first
    alone = measure_cold_import("uses_slow", env, 1, bytecode=True)
    after = measure_cold_import("uses_slow", env, 1, bytecode=True, after=("slow_module",))
    # Then only the first pays for the slow import
    assert alone.import_ms_median >= 300
    assert after.import_ms_median < 300
