"""The Server-Timing header."""

from __future__ import annotations

import math

from bff.api.server_timing import server_timing


def test_durations_are_listed_in_order_with_one_decimal() -> None:
    header = server_timing({"product": 51.23, "reviews": 80.36, "inventory": 30.1, "total": 81.04})
    assert header == "product;dur=51.2, reviews;dur=80.4, inventory;dur=30.1, total;dur=81.0"


def test_names_are_reduced_to_header_tokens() -> None:
    # Given names that would break or extend the header grammar
    header = server_timing({'a b;dur=1,"x"': 1.0, "": 2.0, "caf\u00e9\r\nx": 3.0})
    # Then every name is a single token and nothing else reaches the header
    assert header == "a_b_dur_1__x_;dur=1.0, _;dur=2.0, caf___x;dur=3.0"


def test_non_finite_durations_are_left_out_and_negative_ones_clamped() -> None:
    assert server_timing({"a": math.nan, "b": math.inf, "c": -0.04, "d": 2.0}) == "c;dur=0.0, d;dur=2.0"


def test_no_durations_give_an_empty_header_value() -> None:
    assert server_timing({}) == ""
