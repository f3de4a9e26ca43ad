"""Validation of what the client sends, before any downstream call is made."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from bff.core.shaping import REVIEWS_LIMIT_MAX
from bff.errors import InvalidParameterError

PRODUCT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_PRODUCT_ID = re.compile(PRODUCT_ID_PATTERN)


def reject_query_parameters(query: str) -> None:
    """A route that takes no query parameters refuses any rather than silently ignoring it, so that a typo or a
    cache-busting parameter never looks like it changed the answer."""
    if query:
        raise InvalidParameterError("This endpoint takes no query parameters.")


def validate_product_id(value: str) -> str:
    # fullmatch, not match with ^$: "$" also matches before a trailing newline.
    if _PRODUCT_ID.fullmatch(value) is None:
        raise InvalidParameterError(
            "productId must be 1 to 64 characters: letters, digits, '_' or '-', starting with a letter or digit."
        )
    return value


INCLUDE = "include"
REVIEWS_LIMIT = "reviewsLimit"
QUERY_PARAMETERS = (INCLUDE, REVIEWS_LIMIT)
# An unknown name is echoed in the problem only when it is short and plain.
_ECHOABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_REVIEWS_LIMIT = re.compile(r"[1-9][0-9]?")
# The same rule with REVIEWS_LIMIT_MAX (50) folded in, as a pattern a JSON Schema validator checks.
REVIEWS_LIMIT_OPENAPI_PATTERN = "^(?:[1-9]|[1-4][0-9]|50)$"


@dataclass(frozen=True, slots=True)
class PageQuery:
    include: frozenset[str] | None = None
    reviews_limit: int | None = None


def parse_page_query(query: str, sections: Sequence[str]) -> PageQuery:
    """The page's query parameters, parsed strictly: anything else is refused (400 naming the parameter) rather
    than ignored, so that a typo or a cache-busting parameter never looks like it changed the answer.

    - Only `include` and `reviewsLimit`, each at most once; names are case-sensitive; percent-encoding is decoded.
    - `include`: one or more section names, comma-separated, each once, no spaces; any order (the body keeps the
      page's order).
    - `reviewsLimit`: a whole number from 1 to 50, without sign or leading zeros; only with reviews included.
    """
    if not query:
        return PageQuery()
    values: dict[str, str] = {}
    for element in query.split("&"):
        raw_name, _, raw_value = element.partition("=")
        name = unquote(raw_name)
        if name not in QUERY_PARAMETERS:
            shown = f" '{name}'" if _ECHOABLE_NAME.fullmatch(name) else ""
            raise InvalidParameterError(
                f"Unknown query parameter{shown}: this endpoint takes only {' and '.join(QUERY_PARAMETERS)}."
            )
        if name in values:
            raise InvalidParameterError(f"Query parameter {name} is repeated: give it once.")
        values[name] = unquote(raw_value)
    include = None if INCLUDE not in values else _include(values[INCLUDE], sections)
    reviews_limit = None if REVIEWS_LIMIT not in values else _reviews_limit(values[REVIEWS_LIMIT])
    if reviews_limit is not None and include is not None and "reviews" not in include:
        raise InvalidParameterError(f"Query parameter {REVIEWS_LIMIT} needs reviews among the included sections.")
    return PageQuery(include, reviews_limit)


def _include(value: str, sections: Sequence[str]) -> frozenset[str]:
    names = value.split(",")
    if not set(names) <= set(sections) or len(set(names)) != len(names):
        raise InvalidParameterError(
            f"Query parameter {INCLUDE} must list one or more of {', '.join(sections)}, comma-separated, each once."
        )
    return frozenset(names)


def _reviews_limit(value: str) -> int:
    if _REVIEWS_LIMIT.fullmatch(value) is None or int(value) > REVIEWS_LIMIT_MAX:
        raise InvalidParameterError(
            f"Query parameter {REVIEWS_LIMIT} must be a whole number from 1 to {REVIEWS_LIMIT_MAX}."
        )
    return int(value)


def page_query_openapi(sections: Sequence[str]) -> list[dict[str, Any]]:
    """The query parameters as OpenAPI 3.1 describes them, from the same rules `parse_page_query` applies."""
    return [
        {
            "name": INCLUDE,
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": "The sections to fetch and return, comma-separated (default: all). Only these are "
            "fetched; criticality applies among them. An unknown name answers 400.",
            "schema": {
                "type": "array",
                "items": {"type": "string", "enum": list(sections)},
                "minItems": 1,
                "uniqueItems": True,
            },
        },
        {
            "name": REVIEWS_LIMIT,
            "in": "query",
            "required": False,
            "description": f"Return the first N reviews (reviewSummary still counts all): 1 to {REVIEWS_LIMIT_MAX} "
            "as a plain decimal (no sign, no leading zero: 05 and +5 answer 400). Only with reviews included: with "
            "an include that leaves reviews out it answers 400 (JSON Schema cannot say that across parameters).",
            "schema": {"type": "string", "pattern": REVIEWS_LIMIT_OPENAPI_PATTERN, "examples": ["5"]},
        },
        {
            "name": "Accept-Language",
            "in": "header",
            "required": False,
            "description": "Locale of product.priceFormatted, negotiated among SUPPORTED_LOCALES (q-values honoured; "
            "else the first of them, en-US). Pages with the product vary by it.",
            "schema": {"type": "string"},
        },
    ]
