"""The shaping rules as pure functions: section selection, derived values, reviews limit."""

from __future__ import annotations

from typing import Any

import pytest

from bff.config.locales import format_price
from bff.config.pages import product_details_page
from bff.core.outcomes import Failed, FailureReason, Fetched, JsonValue, SectionOutcome, Stale
from bff.core.policy import PageAnswer, PageFailure
from bff.core.shaping import Derivation, PageOptions, availability, average_rating, review_summary, shape_page
from tests.support.fake_downstream import inventory_body, product_body, reviews_body
from tests.support.settings import settings_for

PAGE = product_details_page(settings_for())
DERIVATION = Derivation(format_price, default_currency="USD", low_stock_threshold=5)


def fetched(value: Any) -> Fetched:
    return Fetched(value, duration_ms=1.0)


def healthy(**replacing: SectionOutcome) -> dict[str, SectionOutcome]:
    outcomes: dict[str, SectionOutcome] = {
        "product": fetched({**product_body("P001"), "currency": None}),
        "reviews": fetched(reviews_body("P001")),
        "inventory": fetched(inventory_body("P001")),
    }
    return {**outcomes, **replacing}


def shaped(outcomes: dict[str, SectionOutcome], options: PageOptions = PageOptions()) -> dict[str, JsonValue]:  # noqa: B008
    decision = shape_page(PAGE, outcomes, options, DERIVATION)
    assert isinstance(decision, PageAnswer)
    return decision.body


def test_a_healthy_page_gets_every_derived_value_and_keeps_its_sections() -> None:
    body = shaped(healthy())
    assert list(body) == ["product", "reviews", "inventory", "reviewSummary", "availability", "meta"]
    assert body["product"] == {**product_body("P001"), "currency": "USD", "priceFormatted": "$99.99"}
    assert body["reviews"] == reviews_body("P001")
    assert body["inventory"] == inventory_body("P001")
    assert body["reviewSummary"] == {"count": 2, "averageRating": 4.5}
    assert body["availability"] == {"inStock": True, "lowStock": False}


@pytest.mark.parametrize(
    ("ratings", "average"),
    [([5, 4], 4.5), ([5, 4, 4, 4], 4.3), ([1, 2, 2], 1.7), ([4, 4, 5], 4.3), ([3], 3.0), ([], None)],
)
def test_the_average_rating_is_rounded_half_up_to_one_decimal(ratings: list[int], average: float | None) -> None:
    # 4.25 gives 4.3 where round() gives 4.2; 4.333... gives 4.3
    assert average_rating(ratings) == average


def test_the_summary_of_no_reviews_counts_zero_with_no_average() -> None:
    assert review_summary([]) == {"count": 0, "averageRating": None}


@pytest.mark.parametrize(
    ("stock", "threshold", "expected"),
    [
        (0, 5, {"inStock": False, "lowStock": False}),
        (1, 5, {"inStock": True, "lowStock": True}),
        (5, 5, {"inStock": True, "lowStock": True}),
        (6, 5, {"inStock": True, "lowStock": False}),
        (1, 0, {"inStock": True, "lowStock": False}),
    ],
)
def test_low_stock_is_some_stock_at_or_under_the_threshold(stock: int, threshold: int, expected: JsonValue) -> None:
    assert availability({"productId": "P001", "stock": stock}, threshold) == expected


def test_reviews_limit_keeps_the_first_reviews_and_the_summary_counts_them_all() -> None:
    three = [*reviews_body("P001"), {"productId": "P001", "rating": 1, "comment": "Meh.", "author": "Carol"}]
    body = shaped(healthy(reviews=fetched(three)), PageOptions(reviews_limit=1))
    assert body["reviews"] == three[:1]
    assert body["reviewSummary"] == {"count": 3, "averageRating": 3.3}


@pytest.mark.parametrize(("section", "derived"), [("reviews", "reviewSummary"), ("inventory", "availability")])
def test_a_failed_section_yields_no_derived_value(section: str, derived: str) -> None:
    body = shaped(healthy(**{section: Failed(FailureReason.UNAVAILABLE, duration_ms=1.0)}))
    assert body[section] is None
    assert body[derived] is None
    assert body["meta"] == {"degraded": [{"source": section, "reason": "unavailable"}]}


def test_a_stale_section_yields_derived_values_that_describe_what_is_shown() -> None:
    # Given reviews and inventory served from their last good answers, the reviews different from today's
    one_review: Any = [{"productId": "P001", "rating": 2, "comment": "Meh.", "author": "Carol"}]
    low_stock: Any = {"productId": "P001", "stock": 3}
    body = shaped(healthy(reviews=Stale(one_review, age_s=42.0), inventory=Stale(low_stock, age_s=7.0)))
    # Then the derived values are those of the stale values, which meta.degraded flags with their age
    assert body["reviewSummary"] == {"count": 1, "averageRating": 2.0}
    assert body["availability"] == {"inStock": True, "lowStock": True}
    assert body["meta"] == {
        "degraded": [
            {"source": "reviews", "reason": "stale", "ageSeconds": 42},
            {"source": "inventory", "reason": "stale", "ageSeconds": 7},
        ]
    }


def test_a_stale_product_keeps_its_formatted_price() -> None:
    stale_product: Any = {**product_body("P001"), "currency": None}
    body = shaped(healthy(product=Stale(stale_product, age_s=3.0)))
    assert body["product"] == {**product_body("P001"), "currency": "USD", "priceFormatted": "$99.99"}


def test_the_products_own_currency_wins_over_the_default() -> None:
    yen = {**product_body("P001"), "price": 9999, "currency": "JPY"}
    body = shaped(healthy(product=fetched(yen)), PageOptions(locale="ja-JP"))
    assert body["product"] == {**yen, "priceFormatted": "￥9,999"}


def test_only_the_included_sections_are_assembled_and_the_others_derive_null() -> None:
    # Given outcomes for the product only (the others were never fetched)
    body = shaped({"product": healthy()["product"]}, PageOptions(include=frozenset({"product"})))
    # Then the body has the product, no reviews or inventory keys, and null derived values
    assert list(body) == ["product", "reviewSummary", "availability", "meta"]
    assert body["reviewSummary"] is None
    assert body["availability"] is None
    assert body["meta"] == {"degraded": []}


def test_criticality_applies_among_the_included_sections() -> None:
    # Given the product fails: the whole page fails, but a page of reviews only does not need it
    outcomes = healthy(product=Failed(FailureReason.UNAVAILABLE, duration_ms=1.0))
    assert isinstance(shape_page(PAGE, outcomes, PageOptions(), DERIVATION), PageFailure)
    reviews_only = shaped({"reviews": outcomes["reviews"]}, PageOptions(include=frozenset({"reviews"})))
    assert reviews_only["reviewSummary"] == {"count": 2, "averageRating": 4.5}
    assert "product" not in reviews_only


def test_a_failed_product_is_still_a_page_failure_with_the_right_status() -> None:
    outcomes = healthy(product=Failed(FailureReason.NOT_FOUND, duration_ms=1.0))
    decision = shape_page(PAGE, outcomes, PageOptions(include=frozenset({"product", "inventory"})), DERIVATION)
    assert isinstance(decision, PageFailure)
    assert decision.status == 404
