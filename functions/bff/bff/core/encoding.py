"""Percent-encoding of one URL path segment or key part, with a fast path for the usual id."""

from __future__ import annotations

import re
from urllib.parse import quote

# RFC 3986's unreserved characters: what quote() leaves as it is even with safe="".
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def percent_encoded(value: str) -> str:
    """`quote(value, safe="")`: every character but the unreserved ones percent-encoded (UTF-8)."""
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")
