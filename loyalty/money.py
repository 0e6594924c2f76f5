"""Money as integer minor units: exponents, and formatting without ever using floats."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 minor-unit exponents of the currencies shops send. A short table is easier to
# audit than a dependency; callers refuse an unknown code rather than guess.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_TWO = (
    "AED AUD BGN BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF ILS INR MXN MYR NOK NZD PHP PLN "
    "RON SAR SEK SGD THB TRY TWD USD ZAR"
)
EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_TWO.split(), 2),
    **dict.fromkeys(_THREE.split(), 3),
}


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency.upper(), 2)


def to_decimal_string(minor: int, currency: str) -> str:
    """1234 GBP -> "12.34"."""
    places = exponent(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f}"
