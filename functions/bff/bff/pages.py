"""Declarations of the pages the BFF serves: which sections, from which service, how critical, how patient.

A new page is a new declaration here; the fan-out, the edge client and the policy stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from bff.models import Inventory, Product, Review
from bff.settings import Settings


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    service: str
    path_template: str
    critical: bool
    timeout_ms: int
    shape: TypeAdapter[Any]

    def path_for(self, encoded_id: str) -> str:
        return self.path_template.format(id=encoded_id)


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    sections: tuple[Section, ...]

    def critical_sections(self) -> tuple[Section, ...]:
        return tuple(section for section in self.sections if section.critical)


_PRODUCT = TypeAdapter(Product)
_REVIEWS = TypeAdapter(list[Review])
_INVENTORY = TypeAdapter(Inventory)


def product_details_page(settings: Settings) -> Page:
    return Page(
        name="product-details",
        sections=(
            Section("product", "product", "/products/{id}", True, settings.product_timeout_ms, _PRODUCT),
            Section("reviews", "reviews", "/reviews/{id}", False, settings.review_timeout_ms, _REVIEWS),
            Section("inventory", "inventory", "/inventory/{id}", False, settings.inventory_timeout_ms, _INVENTORY),
        ),
    )
