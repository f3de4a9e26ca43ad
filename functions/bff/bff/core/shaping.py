"""Response shaping: which sections a request asked for, and the values derived from them for the frontend.

Pure: a page's section outcomes and the request's options in, the page decision out (`shape_page`), so the single
route and a batch of items shape alike. Rules:
- `include` selects sections; only those are fetched and assembled, and criticality applies among them. A section
  not asked for is absent from the body.
- `reviewsLimit` keeps the first N reviews; `reviewSummary` still counts all of them.
- Each derived value describes its source section as served: null when the section was not asked for or failed
  (null). A section served stale yields derived values from that stale value, so that they never contradict what
  is shown beside them (meta.degraded already flags the section and its age).
- `reviewSummary`: the count, and the mean rating rounded half-up to one decimal (null without reviews).
- `availability`: inStock when stock > 0; lowStock when 0 < stock <= the low-stock threshold (0 turns it off).
- `product.priceFormatted`: the price, in the currency's minor units, formatted for the negotiated locale by the
  injected formatter; `product.currency` is the service's currency, else the default one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from bff.core.outcomes import JsonValue, SectionOutcome
from bff.core.policy import PageAnswer, PageDecision, decide
from bff.core.sections import Page

type PriceFormatter = Callable[[int, str, str], str]
"""(price in minor units, ISO 4217 currency, locale tag) -> the price as the locale writes it."""

REVIEWS_LIMIT_MAX = 50
_ONE_DECIMAL = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class PageOptions:
    """What one request asks of the page: its sections (None: all), how many reviews, and its locale."""

    include: frozenset[str] | None = None
    reviews_limit: int | None = None
    locale: str = "en-US"


@dataclass(frozen=True, slots=True)
class Derivation:
    """How derived values are made, the same for every request (from the settings)."""

    format_price: PriceFormatter
    default_currency: str = "USD"
    low_stock_threshold: int = 5


def select_sections(page: Page, include: frozenset[str] | None) -> Page:
    """The page reduced to the sections asked for, in the page's own order."""
    if include is None:
        return page
    return Page(sections=tuple(section for section in page.sections if section.name in include))


def shape_page(
    page: Page, outcomes: Mapping[str, SectionOutcome], options: PageOptions, derivation: Derivation
) -> PageDecision:
    """The decision for the sections asked for, with the page body shaped for the frontend."""
    decision = decide(select_sections(page, options.include), outcomes)
    if not isinstance(decision, PageAnswer):
        return decision
    return replace(decision, body=shape_body(decision, options, derivation))


def shape_body(answer: PageAnswer, options: PageOptions, derivation: Derivation) -> dict[str, JsonValue]:
    body = answer.body
    shaped: dict[str, JsonValue] = {name: value for name, value in body.items() if name != "meta"}
    product = body.get("product")
    if isinstance(product, dict):
        shaped["product"] = priced_product(product, options.locale, derivation)
    reviews = body.get("reviews")
    if isinstance(reviews, list) and options.reviews_limit is not None:
        shaped["reviews"] = reviews[: options.reviews_limit]
    shaped["reviewSummary"] = review_summary(reviews)
    shaped["availability"] = availability(body.get("inventory"), derivation.low_stock_threshold)
    shaped["meta"] = body.get("meta")
    return shaped


def priced_product(product: dict[str, JsonValue], locale: str, derivation: Derivation) -> dict[str, JsonValue]:
    currency = product.get("currency")
    currency = currency if isinstance(currency, str) else derivation.default_currency
    price = product.get("price")
    formatted = derivation.format_price(price, currency, locale) if isinstance(price, int) else None
    return {**product, "currency": currency, "priceFormatted": formatted}


def review_summary(reviews: JsonValue) -> JsonValue:
    if not isinstance(reviews, list):
        return None
    ratings = [
        rating for review in reviews if isinstance(review, dict) and isinstance(rating := review.get("rating"), int)
    ]
    return {"count": len(reviews), "averageRating": average_rating(ratings)}


def average_rating(ratings: list[int]) -> float | None:
    """The mean rounded half-up to one decimal (4.25 gives 4.3, where round() would give 4.2)."""
    if not ratings:
        return None
    mean = Decimal(sum(ratings)) / Decimal(len(ratings))
    return float(mean.quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP))


def availability(inventory: JsonValue, low_stock_threshold: int) -> JsonValue:
    if not isinstance(inventory, dict) or not isinstance(stock := inventory.get("stock"), int):
        return None
    return {"inStock": stock > 0, "lowStock": 0 < stock <= low_stock_threshold}
