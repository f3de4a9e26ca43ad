"""Prices for people: minor units (cents) as text.

The ONE place prices are formatted. For now a plain en-US rendering of US dollars; locale-aware formatting
(Babel's CLDR data) replaces this function's body, not its callers.
"""

from __future__ import annotations

DEFAULT_CURRENCY = "USD"
_SYMBOLS = {"USD": "$"}


def format_price(minor_units: int, currency: str = DEFAULT_CURRENCY) -> str:
    """9999 → "$99.99"; 123456 → "$1,234.56"; -5 → "-$0.05"."""
    sign = "-" if minor_units < 0 else ""
    whole, cents = divmod(abs(minor_units), 100)
    symbol = _SYMBOLS.get(currency, f"{currency}\u00a0")
    return f"{sign}{symbol}{whole:,}.{cents:02d}"
