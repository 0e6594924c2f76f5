"""Money as integer minor units: formatting for the API without ever using floats."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 minor-unit exponents that differ from 2 (the common case).
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_decimal_string(minor: int, currency: str) -> str:
    """1234 GBP -> "12.34"."""
    places = exponent(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f}"
