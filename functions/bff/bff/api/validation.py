"""Validation of what the client sends, before any downstream call is made."""

from __future__ import annotations

import re

from bff.errors import InvalidParameterError

PRODUCT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_PRODUCT_ID = re.compile(PRODUCT_ID_PATTERN)


def validate_product_id(value: str) -> str:
    # fullmatch, not match with ^$: "$" also matches before a trailing newline.
    if _PRODUCT_ID.fullmatch(value) is None:
        raise InvalidParameterError(
            "productId must be 1 to 64 characters: letters, digits, '_' or '-', starting with a letter or digit."
        )
    return value


def reject_query_parameters(query: str) -> None:
    """The page takes no query parameters; any is refused rather than silently ignored, so that a typo or a
    cache-busting parameter never looks like it changed the answer, and caches see one URL per page."""
    if query:
        raise InvalidParameterError("This endpoint takes no query parameters.")
