"""The aggregation policy, as a table: outcome combinations → status, sections and meta.degraded."""

from __future__ import annotations

import pytest

from bff.api.failures import problem_for
from bff.config.pages import product_details_page
from bff.core.outcomes import Failed, FailureReason, Fetched, JsonValue, SectionOutcome, Stale
from bff.core.policy import PageAnswer, PageFailure, decide
from tests.support.settings import settings_for

PAGE = product_details_page(settings_for())
PRODUCT: JsonValue = {"id": "P001", "name": "Awesome Gadget P001", "description": "d", "price": 9999}
REVIEWS: JsonValue = [{"productId": "P001", "rating": 5, "comment": "Love it!", "author": "Alice"}]
INVENTORY: JsonValue = {"productId": "P001", "stock": 14}

OK = "ok"
T, U, B, N = (
    FailureReason.TIMEOUT,
    FailureReason.UNAVAILABLE,
    FailureReason.BAD_RESPONSE,
    FailureReason.NOT_FOUND,
)
VALUES: dict[str, JsonValue] = {"product": PRODUCT, "reviews": REVIEWS, "inventory": INVENTORY}


def outcomes(product: object, reviews: object, inventory: object) -> dict[str, SectionOutcome]:
    def one(name: str, state: object) -> SectionOutcome:
        if state == OK:
            return Fetched(VALUES[name], duration_ms=1.0)
        assert isinstance(state, FailureReason)
        return Failed(state, duration_ms=1.0)

    return {
        "product": one("product", product),
        "reviews": one("reviews", reviews),
        "inventory": one("inventory", inventory),
    }


@pytest.mark.parametrize(
    ("product", "reviews", "inventory", "expected_degraded"),
    [
        (OK, OK, OK, []),
        (OK, T, OK, [{"source": "reviews", "reason": "timeout"}]),
        (OK, U, OK, [{"source": "reviews", "reason": "unavailable"}]),
        (OK, B, OK, [{"source": "reviews", "reason": "bad_response"}]),
        (OK, N, OK, [{"source": "reviews", "reason": "unavailable"}]),
        (OK, OK, T, [{"source": "inventory", "reason": "timeout"}]),
        (OK, OK, U, [{"source": "inventory", "reason": "unavailable"}]),
        (OK, OK, B, [{"source": "inventory", "reason": "bad_response"}]),
        (
            OK,
            T,
            B,
            [{"source": "reviews", "reason": "timeout"}, {"source": "inventory", "reason": "bad_response"}],
        ),
    ],
)
def test_product_ok_gives_200_with_failed_optional_sections_null_and_listed(
    product: object, reviews: object, inventory: object, expected_degraded: list[dict[str, str]]
) -> None:
    # Given the outcomes of the three calls
    given = outcomes(product, reviews, inventory)
    # When the policy decides
    decision = decide(PAGE, given)
    # Then the page is served, failed optional sections are null (never a made-up default) and listed
    assert isinstance(decision, PageAnswer)
    assert decision.status == 200
    assert decision.body["product"] == PRODUCT
    assert decision.body["meta"] == {"degraded": expected_degraded}
    degraded_sources = {entry["source"] for entry in expected_degraded}
    for name in ("reviews", "inventory"):
        assert decision.body[name] == (None if name in degraded_sources else VALUES[name])
    assert decision.degraded is bool(expected_degraded)


@pytest.mark.parametrize(
    ("product_reason", "status", "slug"),
    [
        (N, 404, "product-not-found"),
        (T, 504, "upstream-timeout"),
        (U, 502, "upstream-failure"),
        (B, 502, "upstream-failure"),
    ],
)
@pytest.mark.parametrize(("reviews", "inventory"), [(OK, OK), (T, U), (B, OK)])
def test_failed_product_fails_the_page_whatever_the_optional_sections_did(
    product_reason: FailureReason, status: int, slug: str, reviews: object, inventory: object
) -> None:
    decision = decide(PAGE, outcomes(product_reason, reviews, inventory))
    assert isinstance(decision, PageFailure)
    assert (decision.status, decision.section, decision.reason) == (status, "product", product_reason)
    answer = problem_for(decision)
    assert (answer.status, answer.slug) == (status, slug)
    assert "product" in answer.detail


def test_a_section_with_no_outcome_counts_as_timed_out() -> None:
    # Given only the product answered before the deadline
    decision = decide(PAGE, {"product": Fetched(PRODUCT, duration_ms=1.0)})
    # Then both optional sections are degraded as timeouts
    assert isinstance(decision, PageAnswer)
    assert decision.body["meta"] == {
        "degraded": [{"source": "reviews", "reason": "timeout"}, {"source": "inventory", "reason": "timeout"}]
    }


def test_missing_product_outcome_is_a_gateway_timeout() -> None:
    decision = decide(PAGE, {})
    assert isinstance(decision, PageFailure)
    assert decision.status == 504


@pytest.mark.parametrize(
    ("reason", "retry_after_s", "expected_retry_after"),
    [
        (FailureReason.CIRCUIT_OPEN, 4.2, 5),
        (FailureReason.CIRCUIT_OPEN, 0.0, 1),
        (FailureReason.BULKHEAD_FULL, None, 1),
    ],
)
def test_product_fast_failed_locally_gives_503_with_retry_after(
    reason: FailureReason, retry_after_s: float | None, expected_retry_after: int
) -> None:
    given = outcomes(OK, OK, OK)
    given["product"] = Failed(reason, 0.0, retry_after_s=retry_after_s)
    decision = decide(PAGE, given)
    assert isinstance(decision, PageFailure)
    assert (decision.status, decision.retry_after_s) == (503, expected_retry_after)


def test_optional_section_with_open_circuit_is_degraded_as_circuit_open() -> None:
    given = outcomes(OK, OK, OK)
    given["inventory"] = Failed(FailureReason.CIRCUIT_OPEN, 0.0, retry_after_s=3.0)
    decision = decide(PAGE, given)
    assert isinstance(decision, PageAnswer)
    assert decision.body["meta"] == {"degraded": [{"source": "inventory", "reason": "circuit_open"}]}


@pytest.mark.parametrize("section", ["product", "reviews"])
def test_stale_section_is_served_and_listed_with_its_whole_age(section: str) -> None:
    given = outcomes(OK, OK, OK)
    given[section] = Stale(VALUES[section], age_s=42.9)
    decision = decide(PAGE, given)
    assert isinstance(decision, PageAnswer)
    assert decision.status == 200
    assert decision.degraded
    assert decision.body[section] == VALUES[section]
    assert decision.body["meta"] == {"degraded": [{"source": section, "reason": "stale", "ageSeconds": 42}]}
