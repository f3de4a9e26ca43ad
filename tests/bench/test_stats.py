import math

from bench.stats import percentile, summarize


def test_percentile_uses_nearest_rank() -> None:
    # Given ten sorted latencies
    values = [float(v) for v in range(1, 11)]

    # When / Then: p50 is the 5th value, p90 the 9th, p99 the last
    assert percentile(values, 0.50) == 5.0
    assert percentile(values, 0.90) == 9.0
    assert percentile(values, 0.99) == 10.0


def test_summary_of_unsorted_samples() -> None:
    # Given latencies in arrival order
    summary = summarize([30.0, 10.0, 20.0, 40.0])

    # Then the summary is computed over sorted values
    assert (summary.count, summary.p50_ms, summary.max_ms, summary.mean_ms) == (4, 20.0, 40.0, 25.0)


def test_summary_of_no_samples_is_nan_not_an_error() -> None:
    summary = summarize([])

    assert summary.count == 0
    assert math.isnan(summary.p99_ms)
