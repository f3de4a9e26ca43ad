from __future__ import annotations

import pytest

from bff.core.deadline import Deadline, Waits, page_budget_ms


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("page_ms", "lambda_remaining_ms", "reserve_ms", "expected"),
    [
        (500, None, 50, 500.0),
        (500, 10_000, 50, 500.0),
        (500, 300, 50, 250.0),
        (500, 40, 50, 0.0),
        (29_000, 60_000, 50, 29_000.0),
    ],
)
def test_budget_is_the_least_of_page_lambda_and_gateway_limits(
    page_ms: int, lambda_remaining_ms: int | None, reserve_ms: int, expected: float
) -> None:
    assert page_budget_ms(page_ms, lambda_remaining_ms, reserve_ms) == expected


def test_gateway_limit_caps_a_long_budget() -> None:
    assert page_budget_ms(30_000, None, 100) == 29_900.0


def test_deadline_counts_down_and_caps_each_call() -> None:
    clock = FakeClock()
    deadline = Deadline.after_ms(500, clock)
    assert deadline.cap_s(450) == pytest.approx(0.45)
    clock.now += 0.2
    assert deadline.remaining_s() == pytest.approx(0.3)
    assert deadline.cap_s(450) == pytest.approx(0.3)
    assert not deadline.expired()
    clock.now += 0.4
    assert deadline.expired()
    assert deadline.cap_s(450) == 0.0


def test_waits_count_overlapping_spans_once() -> None:
    waits = Waits()
    assert waits.total_s() == 0.0
    waits.add(1.0, 1.5)  # one read three sections waited on together
    waits.add(1.0, 1.5)
    waits.add(2.0, 2.2)  # two writes side by side
    waits.add(2.1, 2.3)
    assert waits.total_s() == pytest.approx(0.8)


def test_each_deadline_has_its_own_waits() -> None:
    first, second = Deadline.after_ms(500), Deadline.after_ms(500)
    first.cache_waits.add(0.0, 1.0)
    assert second.cache_waits.total_s() == 0.0
