"""How long a browser or a CDN may keep an answer (RFC 9111): the Cache-Control of pages and of the 404 page."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bff.cache.entry import parse_cache_control

NO_STORE = "no-store"
# Stored, but revalidated (cheaply, with the page's ETag) before each use.
REVALIDATE = "no-cache"


def page_cache_control(section_freshness_s: Sequence[float | None], upper_bound_s: int, *, degraded: bool) -> str:
    """A complete page is only as fresh as its most volatile section.

    Each entry is a section's remaining freshness in seconds, or None when the section declares none (then only
    the upper bound, PAGE_CACHE_MAX_AGE_S, applies). Fractions round down: never promise more than is left. A page
    that is degraded or stale must not be kept at all.
    """
    if degraded:
        return NO_STORE
    max_age_s = upper_bound_s
    for freshness_s in section_freshness_s:
        if freshness_s is None or freshness_s == math.inf:
            continue
        max_age_s = min(max_age_s, math.floor(freshness_s) if math.isfinite(freshness_s) else 0)
    return f"public, max-age={max_age_s}" if max_age_s > 0 else REVALIDATE


def not_found_cache_control(negative_ttl_s: int) -> str:
    """A product that does not exist stays absent for a while: a scan of made-up ids is answered from caches."""
    return f"public, max-age={negative_ttl_s}" if negative_ttl_s > 0 else NO_STORE


def shared_cache_may_reuse(cache_control: str | None) -> bool:
    """Whether a shared cache (a CDN) may serve this answer to other callers without asking the BFF again: unless
    it says no-store, private or no-cache (after a revalidation the cache takes the BFF's fresh headers). An
    answer without Cache-Control may be reused heuristically, so it counts as reusable."""
    return not {"no-store", "private", "no-cache"} & parse_cache_control(cache_control).keys()
