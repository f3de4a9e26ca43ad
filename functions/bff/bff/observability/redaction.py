"""Credentials never reach a log line: values under sensitive header names are replaced wherever they appear.

Covers mappings (header dicts, extras), ASGI-style (name, value) pairs, and `Name: value` text such as a
repr or an exception message. Keys are matched case-insensitively; text is cut to the end of the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
SENSITIVE_NAMES = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-amz-security-token", "x-api-key"}
)

_SENSITIVE_TEXT = re.compile(
    r"(?i)(?P<name>\b(?:proxy-)?authorization|\bset-cookie|\bcookie|\bx-amz-security-token|\bx-api-key)"
    r"(?P<separator>['\"]?\s*[:=]\s*)[^\r\n]*"
)


# Searched in lowered text: a case-insensitive pattern is several times slower on every log line.
_SENSITIVE_ANYWHERE = re.compile(r"authorization|cookie|x.amz.security.token|x.api.key")


def might_hold_credentials(text: str) -> bool:
    """A cheap test before the walk: False means no sensitive name appears anywhere in the text."""
    return _SENSITIVE_ANYWHERE.search(text.lower()) is not None


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: REDACTED if _is_sensitive(key) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if len(value) == 2 and _is_sensitive(value[0]):
            return [value[0], REDACTED]
        return [redact(item) for item in value]
    return value


def redact_text(text: str) -> str:
    return _SENSITIVE_TEXT.sub(lambda match: f"{match['name']}{match['separator']}{REDACTED}", text)


def _is_sensitive(name: object) -> bool:
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return isinstance(name, str) and name.strip().lower().replace("_", "-") in SENSITIVE_NAMES
