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
    price: Annotated[int, Field(ge=0, strict=True, description="Price in the currency's minor units (cents).")]
    currency: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Z]{3}$",
            description="ISO 4217 code of the price. In the page: the service's, else the BFF's DEFAULT_CURRENCY.",
        ),
    ] = None


class PageProduct(Product):
    """The product as the page shows it, with its price formatted for the caller's locale."""

    price_formatted: str | None = Field(
        default=None,
        description="The price as the locale negotiated from Accept-Language writes it (e.g. $99.99, 99,99\u00a0$).",
    )


class Review(PublicModel):
    product_id: Annotated[str, Field(max_length=64)]
    rating: Annotated[int, Field(ge=1, le=5, strict=True)]
    comment: BoundedText
    author: Annotated[str, Field(max_length=200)]


class Inventory(PublicModel):
    product_id: Annotated[str, Field(max_length=64)]
    stock: Annotated[int, Field(ge=0, strict=True)]


class ReviewSummary(PublicModel):
    count: Annotated[int, Field(ge=0, description="All the product's reviews, whatever reviewsLimit.")]
    average_rating: Annotated[
        float | None,
        Field(ge=1, le=5, description="Mean rating, rounded half-up to one decimal; null without reviews."),
    ]


class Availability(PublicModel):
    in_stock: Annotated[bool, Field(description="stock > 0")]
    low_stock: Annotated[bool, Field(description="0 < stock <= LOW_STOCK_THRESHOLD")]


class Degradation(PublicModel):
    source: str
    reason: Literal["timeout", "unavailable", "bad_response", "circuit_open", "stale"]
    age_seconds: int | None = Field(default=None, description="Age of the stale value, when reason is stale.")


class Meta(PublicModel):
    degraded: list[Degradation]


class ProductDetails(PublicModel):
    """The page document. A section the request's `include` left out is absent; an optional section is null when
    its service failed (see meta.degraded). Derived values are null when their section is absent or null; a stale
    section's derived values describe the stale value."""

    product: PageProduct | None = Field(default=None, description="Absent when include leaves it out.")
    reviews: list[Review] | None = Field(
        default=None, description="The first reviewsLimit reviews; absent when include leaves them out."
    )
    inventory: Inventory | None = Field(default=None, description="Absent when include leaves it out.")
    review_summary: ReviewSummary | None = Field(
        description="From all the reviews served (stale ones included); null without reviews."
    )
    availability: Availability | None = Field(
        description="From the inventory served (stale included); null without inventory."
    )
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


class BatchItem(BaseModel):
    """One id of a batch: the single route's status, and its page (200) or its problem (any other status)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    status: int = Field(description="The status the single route would have answered for this id.")
    page: ProductDetails | None = Field(default=None, description="The single page's body, when status is 200.")
    problem: Problem | None = Field(default=None, description="The single route's problem, when status is not 200.")


class BatchMeta(BaseModel):
    requested: int = Field(description="Distinct ids asked for.")
    succeeded: int = Field(description="Items with status 200.")
    failed: int = Field(description="Items with another status.")
    degraded: int = Field(description="200 items with a degraded or stale section.")


class BatchDetails(BaseModel):
    """The batch document: the items in request order (duplicates collapsed), and counts."""

    items: list[BatchItem]
    meta: BatchMeta
