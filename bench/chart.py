"""A PNG of latency distributions: one empirical CDF panel per case and condition."""

from itertools import groupby
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

from bench.model import CONTENDER, FLOOR, GO_REFERENCE, NAIVE, CaseOutcome, Measurement

COLUMNS = 2
LOG_SCALE_SPREAD = 10
SUBJECT_COLORS = {GO_REFERENCE: "tab:blue", NAIVE: "tab:orange", CONTENDER: "tab:green", FLOOR: "tab:purple"}


def _panels(outcomes: list[CaseOutcome]) -> list[tuple[str, list[Measurement]]]:
    panels: list[tuple[str, list[Measurement]]] = []
    for outcome in outcomes:
        sampled = [m for m in outcome.measurements if m.latencies_ms]
        for condition, group in groupby(sorted(sampled, key=lambda m: m.condition), key=lambda m: m.condition):
            panels.append((f"{outcome.name}: {condition}", list(group)))
    return panels


def write_chart(outcomes: list[CaseOutcome], directory: Path) -> Path | None:
    panels = _panels(outcomes)
    if not panels:
        return None
    rows = -(-len(panels) // COLUMNS)
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(6 * COLUMNS, 3.6 * rows), squeeze=False)
    for axis, (title, measurements) in zip(axes.flat, panels, strict=False):
        for measurement in measurements:
            ordered = sorted(measurement.latencies_ms)
            fractions = [(index + 1) / len(ordered) for index in range(len(ordered))]
            color = SUBJECT_COLORS.get(measurement.subject, "tab:gray")
            axis.step(ordered, fractions, where="post", label=measurement.subject, color=color)
        samples = [value for m in measurements for value in m.latencies_ms]
        if max(samples) >= LOG_SCALE_SPREAD * max(min(samples), 1e-3):
            axis.set_xscale("log")
            axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_title(title, fontsize=9)
        axis.set_xlabel(f"latency (ms, {axis.get_xscale()})")
        axis.set_ylabel("fraction of requests")
        axis.grid(visible=True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    figure.tight_layout()
    path = directory / "latency.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
