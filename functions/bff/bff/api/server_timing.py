"""The Server-Timing response header (W3C Server Timing), e.g. `product;desc=hit;dur=1.2, total;dur=81.0`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

SERVER_TIMING_HEADER = "server-timing"

# Anything outside RFC 9110 tchar would break the header's grammar, or smuggle a parameter into it.
_NOT_TCHAR = re.compile(r"[^A-Za-z0-9!#$%&'*+.^_`|~-]")


def server_timing(durations_ms: Mapping[str, float], descriptions: Mapping[str, str] | None = None) -> str:
    """One metric per name, in the mapping's order; durations to one decimal, non-finite ones left out. A name's
    description (the fragment cache's hit, miss or stale) comes first, as a token."""
    described = descriptions or {}
    return ", ".join(
        f"{metric_name(name)}{_desc(described.get(name))};dur={max(duration, 0.0):.1f}"
        for name, duration in durations_ms.items()
        if math.isfinite(duration)
    )


def _desc(description: str | None) -> str:
    return f";desc={metric_name(description)}" if description else ""


def metric_name(name: str) -> str:
    return _NOT_TCHAR.sub("_", name)[:64] or "_"
