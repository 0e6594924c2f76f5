"""Decimal money strings to integer minor units, per ISO 4217 exponent."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from loyalty.integrations.payloads import PayloadError
from loyalty.money import EXPONENTS

# Plain ASCII decimals only: Decimal() alone would also take "NaN", "1e5", "1_0" and
# non-ASCII digits, none of which a shop sends for money.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)


def currency_code(value: Any, path: str = "currency") -> str:
    """An ISO currency code we know the exponent of, upper-cased."""
    if not isinstance(value, str):
        raise PayloadError(path, "missing" if value is None else "expected a currency code")
    code = value.strip().upper()
    if code not in EXPONENTS:
        raise PayloadError(path, f"unknown currency {value!r} (no minor-unit exponent)")
    return code


def minor_units(value: Any, currency: str, path: str) -> int:
    """`value` ("12.34", 12, Decimal) in minor units of `currency`.

    Sub-minor precision (WooCommerce can be set to 4 decimals) is rounded half away from
    zero, as WooCommerce itself rounds. A float, which only arrives if the caller parsed
    JSON without `load_json`, is read via its shortest repr, which is the JSON literal.
    """
    if isinstance(value, bool) or value is None:
        raise PayloadError(path, "missing" if value is None else "expected a decimal amount")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value.strip()):
            raise PayloadError(path, f"not a decimal amount: {value!r}")
        value = Decimal(value.strip())
    if not isinstance(value, int | Decimal) or not Decimal(value).is_finite():
        raise PayloadError(path, f"not a decimal amount: {value!r}")
    exponent = EXPONENTS[currency_code(currency)]
    return int(Decimal(value).scaleb(exponent).to_integral_value(rounding=ROUND_HALF_UP))
