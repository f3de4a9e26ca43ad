"""A batch's ids: how many one request may name, each taken once, and split into chunks for batch endpoints."""

from __future__ import annotations

from collections.abc import Sequence

MAX_BATCH_IDS = 50


def unique_in_order(entity_ids: Sequence[str]) -> list[str]:
    """Duplicates collapsed, first occurrences kept in their order."""
    return list(dict.fromkeys(entity_ids))


def chunks[T](items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive slices of at most `size` items: 24 ids by 10 give 10, 10 and 4."""
    if size < 1:
        raise ValueError("a chunk holds at least one id")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]
