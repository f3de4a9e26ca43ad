"""Public shapes of each section. Downstream bodies are validated into these, so unknown fields never leak."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

type BoundedText = Annotated[str, Field(max_length=10_000)]


class PublicModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True)


class Product(PublicModel):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(max_length=500)]
    description: BoundedText
    price: Annotated[int, Field(ge=0, strict=True, description="Price in cents.")]


class Review(PublicModel):
    product_id: Annotated[str, Field(max_length=64)]
    rating: Annotated[int, Field(ge=1, le=5, strict=True)]
    comment: BoundedText
    author: Annotated[str, Field(max_length=200)]


class Inventory(PublicModel):
    product_id: Annotated[str, Field(max_length=64)]
    stock: Annotated[int, Field(ge=0, strict=True)]


class Degradation(PublicModel):
    source: str
    reason: Literal["timeout", "unavailable", "bad_response", "circuit_open", "stale"]
    age_seconds: int | None = Field(default=None, description="Age of the stale value, when reason is stale.")


class Meta(PublicModel):
    degraded: list[Degradation]


class ProductDetails(PublicModel):
    """The page document; optional sections are null when their service failed (see meta.degraded)."""

    product: Product
    reviews: list[Review] | None
    inventory: Inventory | None
    meta: Meta


class Problem(BaseModel):
    """RFC 9457 problem details, as sent with application/problem+json."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    correlation_id: str
