"""Turn case outcomes into bench/results/: a JSON document, a Markdown summary and raw latency samples."""

import json
import math
import os
import platform
import shutil
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.model import BASELINES, CaseOutcome, Measurement


def ratios(outcome: CaseOutcome) -> list[dict[str, Any]]:
    """Each measurement's key metrics divided by every baseline's, within the same condition."""
    rows: list[dict[str, Any]] = []
    baselines = {(m.subject, m.condition): m for m in outcome.measurements if m.subject in BASELINES}
    for measurement in outcome.measurements:
        for baseline_subject in BASELINES:
            baseline = baselines.get((baseline_subject, measurement.condition))
            if baseline is None or baseline is measurement:
                continue
            for metric in outcome.key_metrics:
                ratio = _ratio(measurement.metrics.get(metric), baseline.metrics.get(metric))
                if ratio is not None:
                    rows.append(
                        {
                            "condition": measurement.condition,
                            "metric": metric,
                            "subject": measurement.subject,
                            "baseline": baseline_subject,
                            "ratio": ratio,
                        }
                    )
    return rows


def _ratio(value: object, baseline: object) -> float | None:
    if not isinstance(value, int | float) or not isinstance(baseline, int | float) or baseline == 0:
        return None
    ratio = value / baseline
    return None if math.isnan(ratio) else round(ratio, 3)


NOISY_LOADAVG = 0.5


def environment() -> dict[str, str]:
    """Taken before any case runs, so the load average shows what else was using the cores."""
    go = shutil.which("go")
    go_version = subprocess.run([go, "version"], capture_output=True, text=True, check=False).stdout if go else ""
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "go": go_version.strip() or "absent",
        "machine": f"{platform.machine()}, {len(_cpus())} cores",
        "loadavg_1m_at_start": f"{os.getloadavg()[0]:.2f}",
    }


def _cpus() -> list[str]:
    return [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("processor")]


def _measurement_dict(measurement: Measurement) -> dict[str, Any]:
    return {key: value for key, value in asdict(measurement).items() if key != "latencies_ms"}


def write_json(
    outcomes: list[CaseOutcome], env: dict[str, str], directory: Path, summary: dict[str, Any] | None = None
) -> Path:
    document = {
        "environment": env,
        **(summary or {}),
        "cases": [
            {
                "name": outcome.name,
                "title": outcome.title,
                "skipped": outcome.skipped,
                "notes": outcome.notes,
                "measurements": [_measurement_dict(m) for m in outcome.measurements],
                "ratios": ratios(outcome),
            }
            for outcome in outcomes
        ],
    }
    path = directory / "results.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def write_raw(outcomes: list[CaseOutcome], directory: Path) -> None:
    raw = directory / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for outcome in outcomes:
        samples = [
            {"subject": m.subject, "condition": m.condition, "latencies_ms": m.latencies_ms}
            for m in outcome.measurements
            if m.latencies_ms
        ]
        if samples:
            (raw / f"{outcome.name}.json").write_text(json.dumps(samples))


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _measurements_table(outcome: CaseOutcome) -> list[str]:
    metric_names = list(dict.fromkeys(name for m in outcome.measurements for name in m.metrics))
    rows = [
        [m.subject, m.condition, *(str(m.metrics.get(name, "")) for name in metric_names)] for m in outcome.measurements
    ]
    return _table(["subject", "condition", *metric_names], rows)


def write_markdown(
    outcomes: list[CaseOutcome],
    env: dict[str, str],
    directory: Path,
    chart: Path | None,
    summary_lines: list[str] | None = None,
) -> Path:
    lines = ["# Bench results", "", ", ".join(f"{key}: {value}" for key, value in env.items()), ""]
    if float(env["loadavg_1m_at_start"]) > NOISY_LOADAVG:
        lines += ["**Other processes were busy when this run started: treat absolute figures as noisy.**", ""]
    lines += summary_lines or []
    if chart is not None:
        lines += [f"![latency distributions]({chart.name})", ""]
    for outcome in outcomes:
        lines += [f"## {outcome.name}: {outcome.title}", ""]
        if outcome.skipped:
            lines += [f"_{outcome.skipped}_", ""]
            continue
        if outcome.measurements:
            lines += [*_measurements_table(outcome), ""]
        ratio_rows = [
            [row["condition"], row["metric"], row["subject"], row["baseline"], f"{row['ratio']}x"]
            for row in ratios(outcome)
        ]
        if ratio_rows:
            lines += ["Ratios (subject / baseline, same run):", ""]
            lines += [*_table(["condition", "metric", "subject", "baseline", "ratio"], ratio_rows), ""]
        lines += [f"- {note}" for note in outcome.notes]
        lines += [""] if outcome.notes else []
    path = directory / "results.md"
    path.write_text("\n".join(lines))
    return path
