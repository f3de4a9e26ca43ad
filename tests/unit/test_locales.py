"""Locale negotiation from Accept-Language, and prices formatted with Babel's CLDR data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from babel.core import UnknownLocaleError

from bff.config.locales import format_price, has_locale_data, negotiate_locale

SUPPORTED = ["en-US", "de-DE", "fr-FR", "ja-JP"]
BFF_CODE = Path(__file__).resolve().parents[2] / "functions" / "bff"


@pytest.mark.parametrize(
    ("accept_language", "locale"),
    [
        ("en-US", "en-US"),
        ("de-DE", "de-DE"),
        ("fr-FR,fr;q=0.9", "fr-FR"),
        ("ja-JP", "ja-JP"),
        ("de;q=0.9, fr;q=1", "fr-FR"),
        ("de-AT", "de-DE"),
        ("DE-de", "de-DE"),
        ("ja", "ja-JP"),
        ("pt-BR", "en-US"),
        ("pt-BR, de;q=0.1", "de-DE"),
        ("de;q=0, fr;q=0.1", "fr-FR"),
        ("en-GB", "en-US"),
        ("*", "en-US"),
        ("", "en-US"),
        (None, "en-US"),
        ("de;q=2, ;;, ja", "ja-JP"),
        ("fr;q=0.5, de;q=0.5", "fr-FR"),
    ],
)
def test_the_most_preferred_supported_locale_is_chosen(accept_language: str | None, locale: str) -> None:
    assert negotiate_locale(accept_language, SUPPORTED) == locale


def test_the_fallback_is_the_first_supported_locale() -> None:
    assert negotiate_locale("pt-BR", ["de-DE", "en-US"]) == "de-DE"


@pytest.mark.parametrize(
    ("locale", "formatted"),
    [("en-US", "$99.99"), ("de-DE", "99,99\u00a0$"), ("fr-FR", "99,99\u00a0$US"), ("ja-JP", "$99.99")],
)
def test_usd_cents_are_formatted_as_each_locale_writes_dollars(locale: str, formatted: str) -> None:
    assert format_price(9999, "USD", locale) == formatted


@pytest.mark.parametrize(
    ("currency", "locale", "formatted"),
    [
        ("JPY", "ja-JP", "￥9,999"),  # no minor unit: 9999 is 9,999 yen
        ("JPY", "en-US", "¥9,999"),
        ("EUR", "de-DE", "99,99\u00a0€"),
        ("BHD", "en-US", "BHD9.999"),  # three decimals
    ],
)
def test_minor_units_follow_the_currency(currency: str, locale: str, formatted: str) -> None:
    assert format_price(9999, currency, locale) == formatted


def test_large_and_zero_prices() -> None:
    assert format_price(123_456_789, "USD", "de-DE") == "1.234.567,89\u00a0$"
    assert format_price(0, "USD", "en-US") == "$0.00"


def test_babel_stays_off_the_cold_start() -> None:
    # Given a fresh interpreter that imports what the Lambda's cold start imports
    script = (
        "import sys, bff.composition, bff.config.locales; "
        "print(sorted(m for m in sys.modules if m.startswith('babel')))"
    )
    env = {**os.environ, "PYTHONPATH": str(BFF_CODE)}
    # When it has imported them
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    # Then Babel is not loaded yet: the first priced answer pays for it
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "tag",
    ["en-US", "de-DE", "fr-FR", "ja-JP", "zh-Hant-TW", "es-419", "en", "zh-TW", "xx", "en-XX", "qq-QQ", "zz-Zzzz"],
)
def test_locale_data_is_known_exactly_when_babel_can_format_a_price_for_the_tag(tag: str) -> None:
    # The check at start skips importing Babel for a tag with its own data file; it must agree with Babel itself
    try:
        format_price(9999, "USD", tag)
    except (UnknownLocaleError, ValueError):
        formats = False
    else:
        formats = True
    assert has_locale_data(tag) is formats
