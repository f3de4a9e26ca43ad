"""The cart use case: the signed-in shopper's cart, each item enriched with its product.

Pure: who the shopper is, which headers travel and how the calls are made are bound into the ports for each
request by the cart requests (bff.writes.cart_requests), so nothing here can pick another user's cart.
- The cart service is critical: a failed cart call fails the request (502, 503 or 504, as a page's critical
  section does); a cart service that says 404 is broken for us (an unknown user has an empty cart), so 502.
- Products come from the product read path (resilient, cached). An item whose product is missing or failing is
  kept with `product: null` and listed in `meta.degraded` with its productId.
- Adding an item checks the product first: a product that does not exist is the client's mistake (422).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from pydantic import Field

from bff.core.deadline import Deadline
from bff.core.models import PublicModel
from bff.core.outcomes import Failed, FailureReason, Fetched, JsonValue, SectionOutcome, Stale
from bff.core.policy import PageAnswer, PageDecision, PageFailure, critical_failure, public_reason
from bff.core.sections import Section

MAX_CART_ITEMS = 200


@dataclass(frozen=True, slots=True)
class CartWrite:
    """How an add-item request ended: its decision, and whether it is the replay of an earlier answer."""

    decision: PageDecision
    replayed: bool
    body_json: str | None = None
    """The answer's exact JSON text when it comes from (or went to) the idempotency store."""


class CartItem(PublicModel):
    product_id: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=10_000, strict=True)]


class CartDocument(PublicModel):
    """The cart service's answer, as the BFF accepts it."""

    user_id: Annotated[str, Field(min_length=1, max_length=255)]
    items: Annotated[list[CartItem], Field(max_length=MAX_CART_ITEMS)]


class CartProduct(PublicModel):
    id: str
    name: str
    price: int = Field(description="Price in minor units (cents).")
    price_formatted: str = Field(description="The price as text for the shopper, e.g. $99.99.")


class CartLine(PublicModel):
    product_id: str
    quantity: int
    product: CartProduct | None = Field(description="null when the product is missing or its service failed.")


class CartDegradation(PublicModel):
    source: Literal["product"]
    product_id: str
    reason: Literal["timeout", "unavailable", "bad_response", "circuit_open", "stale"]
    age_seconds: int | None = None


class CartMeta(PublicModel):
    degraded: list[CartDegradation]


class CartView(PublicModel):
    """The shopper's cart (GET /cart, and the answer to POST /cart/items)."""

    items: list[CartLine]
    meta: CartMeta


@dataclass(frozen=True, slots=True)
class CartSections:
    cart: Section
    """GET /carts/{id}: the shopper's cart."""
    add_item: Section
    """POST /carts/{id}/items: one item added; answers the cart."""
    product: Section
    """The product page's product section: the same read path (breaker, stale fallback, cache)."""


@dataclass(frozen=True, slots=True)
class NewItem:
    product_id: str
    quantity: int


class CartPorts(Protocol):
    """One request's view of the services, already bound to its shopper, headers and idempotency key. A Protocol
    because this pure use case may not import the layer that binds them (bff.writes.cart_requests)."""

    async def read_cart(self, deadline: Deadline) -> SectionOutcome: ...

    async def add_item(self, item: NewItem, deadline: Deadline) -> Failed | Fetched: ...

    async def product(self, product_id: str, deadline: Deadline) -> SectionOutcome: ...

    async def products(self, product_ids: Sequence[str], deadline: Deadline) -> Mapping[str, SectionOutcome]: ...


type PriceFormatter = Callable[[int], str]


class CartService:
    def __init__(self, cart: Section, product: Section, *, price_formatter: PriceFormatter) -> None:
        self._cart = cart
        self._product = product
        self._format_price = price_formatter

    async def view(self, ports: CartPorts, deadline: Deadline) -> PageDecision:
        outcome = await ports.read_cart(deadline)
        if isinstance(outcome, Failed):
            return self._cart_failure(outcome)
        return await self._enriched(outcome.value, ports, deadline, status=200)

    async def check_product(self, item: NewItem, ports: CartPorts, deadline: Deadline) -> PageFailure | None:
        """None when the product exists (a stale answer says it did); else why the item cannot be added."""
        outcome = await ports.product(item.product_id, deadline)
        if not isinstance(outcome, Failed):
            return None
        if outcome.reason is FailureReason.NOT_FOUND:
            return PageFailure(422, self._product.name, outcome.reason)
        return critical_failure(self._product, outcome)

    async def add(self, item: NewItem, ports: CartPorts, deadline: Deadline) -> PageDecision:
        outcome = await ports.add_item(item, deadline)
        if isinstance(outcome, Failed):
            return self._cart_failure(outcome)
        return await self._enriched(outcome.value, ports, deadline, status=201)

    def _cart_failure(self, failure: Failed) -> PageFailure:
        if failure.reason is FailureReason.NOT_FOUND:
            return PageFailure(502, self._cart.name, failure.reason)
        return critical_failure(self._cart, failure)

    async def _enriched(self, value: JsonValue, ports: CartPorts, deadline: Deadline, *, status: int) -> PageAnswer:
        document = CartDocument.model_validate(value)
        product_ids = list(dict.fromkeys(item.product_id for item in document.items))
        by_id = await ports.products(product_ids, deadline)
        lines: list[JsonValue] = []
        degraded: list[JsonValue] = []
        degradations: list[tuple[str, str]] = []
        for product_id in product_ids:
            degradation = _degradation(product_id, by_id[product_id])
            if degradation is not None:
                degraded.append(degradation)
                degradations.append((self._product.name, str(degradation["reason"])))
        for item in document.items:
            product = self._product_view(by_id[item.product_id])
            lines.append({"productId": item.product_id, "quantity": item.quantity, "product": product})
        body: dict[str, JsonValue] = {"items": lines, "meta": {"degraded": degraded}}
        return PageAnswer(body=body, degradations=tuple(degradations), status=status)

    def _product_view(self, outcome: SectionOutcome) -> JsonValue:
        if isinstance(outcome, Failed) or not isinstance(outcome.value, dict):
            return None
        value = outcome.value
        price = value.get("price")
        if not isinstance(price, int):
            return None
        return {
            "id": value.get("id"),
            "name": value.get("name"),
            "price": price,
            "priceFormatted": self._format_price(price),
        }


def _degradation(product_id: str, outcome: SectionOutcome) -> dict[str, JsonValue] | None:
    match outcome:
        case Stale(age_s=age_s):
            return {"source": "product", "productId": product_id, "reason": "stale", "ageSeconds": math.floor(age_s)}
        case Failed(reason=reason):
            return {"source": "product", "productId": product_id, "reason": public_reason(reason)}
        case _:
            return None
