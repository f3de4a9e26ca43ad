from bench.model import CONTENDER, GO_REFERENCE, NAIVE, CaseOutcome, Measurement
from bench.report import ratios


def test_ratios_compare_each_subject_with_each_baseline_in_the_same_condition() -> None:
    # Given three subjects measured under one condition, and the naive build alone under another
    outcome = CaseOutcome("load", "load", key_metrics=("p50_ms",))
    outcome.measurements += [
        Measurement(GO_REFERENCE, "64 clients", {"p50_ms": 80.0}),
        Measurement(NAIVE, "64 clients", {"p50_ms": 800.0}),
        Measurement(CONTENDER, "64 clients", {"p50_ms": 100.0}),
        Measurement(NAIVE, "1 client", {"p50_ms": 84.0}),
    ]

    # When ratios are computed
    rows = {(row["subject"], row["baseline"]): row["ratio"] for row in ratios(outcome)}

    # Then every subject is divided by every other baseline of its own condition, and nothing else
    assert rows == {
        (GO_REFERENCE, NAIVE): 0.1,
        (NAIVE, GO_REFERENCE): 10.0,
        (CONTENDER, GO_REFERENCE): 1.25,
        (CONTENDER, NAIVE): 0.125,
    }


def test_ratio_against_a_zero_or_text_baseline_is_left_out() -> None:
    outcome = CaseOutcome("memory", "memory", key_metrics=("rss_growth_kib", "statuses"))
    outcome.measurements += [
        Measurement(NAIVE, "c", {"rss_growth_kib": 0, "statuses": "200:10"}),
        Measurement(CONTENDER, "c", {"rss_growth_kib": 120, "statuses": "200:10"}),
    ]

    assert ratios(outcome) == []
