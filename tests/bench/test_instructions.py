"""The instruction-count case: callgrind's total parsed, warm-up and start-up left out, and skipped (not failed)
where valgrind is missing."""

from pathlib import Path

import pytest

from bench import cases
from bench.instructions import LONG, SHORT, SLOW_MOTION, collected, per_invocation
from bench.model import CONTENDER, FLOOR, CaseOutcome, Measurement, Settings
from bench.summary import Figures, targets

CALLGRIND_LOG = """==4242== Callgrind, a call-graph generating cache profiler
==4242== Events    : Ir
==4242== Collected : 2961278206
==4242==
==4242== I   refs:      2,961,278,206
"""


def test_the_total_is_read_from_callgrinds_log() -> None:
    assert collected(CALLGRIND_LOG) == 2_961_278_206


def test_a_log_without_a_total_is_an_error_not_a_zero() -> None:
    with pytest.raises(RuntimeError, match="no count"):
        collected("==4242== Callgrind, a call-graph generating cache profiler\n")


def test_start_up_and_warm_up_cancel_out_of_the_difference() -> None:
    # Given runs that share a fixed cost (interpreter, imports, warm-up) and 5,000 instructions per invocation
    fixed = 2_000_000_000
    short_total, long_total = fixed + SHORT * 5_000, fixed + LONG * 5_000
    # Then the count per invocation is the per-invocation part alone
    assert per_invocation(short_total, long_total) == 5_000


def test_deadlines_and_hedges_cannot_fire_in_slow_motion_but_hedges_are_still_armed() -> None:
    deadline_ms = int(SLOW_MOTION["PAGE_DEADLINE_MS"])
    for name in ("PRODUCT", "REVIEWS", "INVENTORY"):
        hedge_ms, timeout_ms = int(SLOW_MOTION[f"{name}_HEDGE_DELAY_MS"]), int(SLOW_MOTION[f"{name}_TIMEOUT_MS"])
        # A hedge delay of 0 would turn hedging off and leave its cost out of the count
        assert 5_000 <= hedge_ms < timeout_ms < deadline_ms


def test_without_valgrind_the_case_is_skipped_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.cases.shutil.which", lambda name: None)
    outcome = CaseOutcome("instructions", "instructions", ())
    cases.instructions_case(Settings("bff.handler:lambda_handler", "bff.handler:app", (Path(),), None), outcome)
    assert outcome.measurements == []
    assert outcome.skipped is not None
    assert "valgrind" in outcome.skipped


def test_the_target_compares_the_contenders_count_with_the_floors() -> None:
    condition = "warm, 0/0/0 ms mocks, callgrind"
    counted = CaseOutcome(
        "instructions",
        "instructions",
        (),
        [
            Measurement(FLOOR, condition, {"instructions_per_invocation": 2_200_000}),
            Measurement(CONTENDER, condition, {"instructions_per_invocation": 4_950_000}),
        ],
    )
    found = {target.name: target for target in targets(Figures([counted]))}
    target = found["instructions per warm invocation / floor (callgrind, 0 ms mocks)"]
    assert (target.figure, target.verdict) == (2.25, "missed")
