"""Declarations of the pages the BFF serves: which sections, from which service, how critical, how patient.

A new page is a new declaration here; the fan-out, the edge client and the policy stay as they are.
"""

from __future__ import annotations

from pydantic import TypeAdapter

from bff.core.models import Inventory, Product, Review
from bff.core.sections import Page, Section
from bff.settings import Settings

_PRODUCT = TypeAdapter(Product)
_REVIEWS = TypeAdapter(list[Review])
_INVENTORY = TypeAdapter(Inventory)


def product_details_page(settings: Settings) -> Page:
    return Page(
        sections=(
            Section("product", "product", "/products/{id}", settings.product_timeout_ms, _PRODUCT, critical=True),
            Section("reviews", "reviews", "/reviews/{id}", settings.review_timeout_ms, _REVIEWS, critical=False),
            Section(
                "inventory", "inventory", "/inventory/{id}", settings.inventory_timeout_ms, _INVENTORY, critical=False
            ),
        ),
    )
