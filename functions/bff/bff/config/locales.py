"""The caller's locale, and prices formatted for it with Babel's CLDR data.

`negotiate_locale` is plain header parsing. `format_price` is the one place that formats a price (the product page
and the cart use it); it imports Babel on its first call, so the ~40 ms import and the locale data loads are paid by
the first priced answer of an execution environment, not by every cold start (a page without the product section,
a 400 or a 404 never pays them).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from babel.core import Locale

# A language range of Accept-Language (RFC 9110 §12.5.4) with its optional weight.
_LANGUAGE_RANGE = re.compile(r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*")
# The locale tags SUPPORTED_LOCALES may hold: language, optional script, optional region (en-US, zh-Hant-TW).
LOCALE_TAG_PATTERN = r"[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?"


def negotiate_locale(accept_language: str | None, supported: Sequence[str]) -> str:
    """The supported locale the caller prefers most, else the first supported one (en-US by default).

    Ranges are tried by descending q (ties keep their order; q=0 excludes); a range matches a supported tag
    exactly (case-insensitively), or by its language alone (`de` and `de-AT` get de-DE). `*` and malformed
    elements match nothing."""
    by_language: dict[str, str] = {}
    exact: dict[str, str] = {}
    for tag in supported:
        exact.setdefault(tag.lower(), tag)
        by_language.setdefault(tag.split("-", 1)[0].lower(), tag)
    for language_range in _preferred_ranges(accept_language or ""):
        found = exact.get(language_range) or by_language.get(language_range.split("-", 1)[0])
        if found is not None:
            return found
    return supported[0]


def _preferred_ranges(field: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for position, element in enumerate(field.split(",")[:32]):
        match = _LANGUAGE_RANGE.fullmatch(element)
        if match is None or match.group(1) == "*":
            continue
        weight = float(match.group(2)) if match.group(2) is not None else 1.0
        if 0 < weight <= 1:
            weighted.append((-weight, position, match.group(1).lower()))
    return [language_range for _, _, language_range in sorted(weighted)]


# Formatting is a tenth of a page's CPU through Babel's pattern engine; a catalogue repeats its prices.
@lru_cache(maxsize=1024)
def format_price(minor_units: int, currency: str, locale: str) -> str:
    """A price given in the currency's minor units (9999 USD cents, 9999 JPY yen) as the locale writes it:
    `$99.99` (en-US), `99,99\u00a0$` (de-DE), `99,99\u00a0$US` (fr-FR), `￥9,999` (ja-JP, JPY)."""
    from babel.numbers import format_currency, get_currency_precision  # noqa: PLC0415 - off the cold start

    amount = Decimal(minor_units).scaleb(-get_currency_precision(currency))
    return format_currency(amount, currency, locale=_babel_locale(locale), currency_digits=True)


def preload_locales(locales: Sequence[str], currency: str) -> None:
    """Imports Babel and loads each locale's data now (before a SnapStart snapshot) instead of at the first
    priced answer."""
    for tag in locales:
        format_price(0, currency, tag)


@cache
def _babel_locale(tag: str) -> Locale:
    from babel.core import Locale  # noqa: PLC0415 - off the cold start

    return Locale.parse(tag, sep="-")


def has_locale_data(tag: str) -> bool:
    """Whether Babel has the CLDR data to format a price for the tag (checked at start, so that a bad
    SUPPORTED_LOCALES stops the cold start instead of failing every priced answer).

    A tag with its own data file in Babel's package is known without importing Babel, which the cold start does not
    pay; any other tag is parsed by Babel itself, which also resolves likely subtags (zh-TW is zh_Hant_TW)."""
    spec = importlib.util.find_spec("babel")
    locations = spec.submodule_search_locations if spec is not None else None
    if locations and (Path(locations[0]) / "locale-data" / f"{tag.replace('-', '_')}.dat").is_file():
        return True
    from babel.core import Locale, UnknownLocaleError  # noqa: PLC0415 - only for a tag without its own file

    try:
        Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        return False
    return True
