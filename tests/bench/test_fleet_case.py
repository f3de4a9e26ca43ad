"""The fleet case as `bench.run` runs it: its chart goes to the run's results directory, every row becomes a
measurement, and the issue's targets read the 1,000-environment Redis rows (first minute, sustained, noise)."""

from pathlib import Path
from typing import Any

import pytest

from bench import cases
from bench.model import CaseOutcome, Settings
from bench.summary import Figures, fleet_targets


def outage_row(subject: str, first_minute: int, sustained: float) -> dict[str, Any]:
    return {
        "subject": subject,
        "environments": 1000,
        "dead_calls_per_minute": [first_minute, 11, 11],
        "dead_calls_first_minute": first_minute,
        "dead_calls_per_minute_after_the_first": sustained,
        "first_minute_physical_lower_bound": 500,
        "all_stopped_s_after_first_trip": 0.08,
        "probes_per_s": 0.18,
        "store_reads_per_env_per_min_healthy": 4.0,
        "store_writes_per_env_per_min_healthy": 0.0,
        "recovered_load_share_per_s": [0.1, 0.55, 1.0],
    }


REPORT = {
    "rows": [
        outage_row("per-environment (today)", 16_000, 11_500.0),
        outage_row("shared (redis)", 1_011, 11.0),
        {"subject": "shared (redis)", "environments": 1000, "noise": 0.01, "false_trips": 2, "failures_seen_per_s": 50},
    ],
    "latency": [
        {"store": "no shared breaker", "p50_ms": 20.0, "p99_ms": 30.0, "store_operations": 0},
        {"store": "hung (never answers)", "p50_ms": 21.0, "p99_ms": 31.0, "store_operations": 8},
    ],
}


def test_the_fleet_case_charts_into_the_runs_results_and_feeds_the_targets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given bench.fleet's report, and a run whose results go to tmp_path
    asked: list[list[str]] = []

    def run_fleet(module: str, args: list[str], env: object, timeout_s: float) -> dict[str, Any]:
        asked.append([module, *args])
        return REPORT

    monkeypatch.setattr("bench.cases.run_python_json", run_fleet)
    outcome = CaseOutcome("fleet", "fleet", ())
    settings = Settings("bff.handler:lambda_handler", "bff.handler:app", (Path(),), None, results=tmp_path)
    # When the case runs
    cases.fleet_case(settings, outcome)
    # Then the chart was asked for in the run's results directory
    assert asked == [["bench.fleet", "--chart", str(tmp_path / "fleet-recovery.png")]]
    # And the targets read the shared Redis rows: the first minute missed, the sustained rate met, the noise row's
    # false trips reported (two here: missed)
    verdicts = {target.name: (target.figure, target.verdict) for target in fleet_targets(Figures([outcome]))}
    first_minute = "fleet of 1,000: dead-service calls in the outage's first minute (physical lower bound 500)"
    assert verdicts[first_minute] == (1_011, "missed")
    assert verdicts["fleet of 1,000: dead-service calls per minute after the first (sustained)"] == (11.0, "met")
    assert verdicts["fleet of 1,000: false trips of a healthy service failing 1 % of calls"] == (2, "missed")
    assert verdicts["page p50 beside the slowest shared-breaker store / without one"][1] == "met"
