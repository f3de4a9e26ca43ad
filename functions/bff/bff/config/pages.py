"""Declarations of the pages the BFF serves: which sections, from which service, how critical.

Each section's patience is its service's timeout from the settings (`{NAME}_TIMEOUT_MS`). A new page is a
declaration here plus its route and response model (docs/recipes.md lists every file each change touches).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from bff.config.settings import Settings
from bff.core.cart import CartDocument, CartSections
from bff.core.models import Inventory, Product, Review
from bff.core.sections import Page, Section

_PRODUCT = TypeAdapter(Product)
_REVIEWS = TypeAdapter(list[Review])
_INVENTORY = TypeAdapter(Inventory)
_CART = TypeAdapter(CartDocument)


def _section(
    settings: Settings, name: str, path_template: str, shape: TypeAdapter[Any], *, critical: bool, service: str = ""
) -> Section:
    """A section named after its service unless `service` says otherwise, with that service's timeout."""
    source = service or name
    return Section(name, source, path_template, settings.services[source].timeout_ms, shape, critical=critical)


def product_details_page(settings: Settings) -> Page:
    return Page(
        sections=(
            _section(settings, "product", "/products/{id}", _PRODUCT, critical=True),
            _section(settings, "reviews", "/reviews/{id}", _REVIEWS, critical=False),
            _section(settings, "inventory", "/inventory/{id}", _INVENTORY, critical=False),
        ),
    )


def cart_sections(settings: Settings, page: Page) -> CartSections:
    """The cart's calls: the cart service (critical) and the product page's own product section."""
    return CartSections(
        cart=_section(settings, "cart", "/carts/{id}", _CART, critical=True),
        add_item=_section(settings, "cart", "/carts/{id}/items", _CART, critical=True),
        product=page.sections[0],
    )
