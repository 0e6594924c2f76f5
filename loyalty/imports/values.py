"""Reading one cell: money as Decimal into minor units, dates, integers, flags."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.imports.runner import RowError
from loyalty.money import EXPONENTS

# Plain ASCII decimals: no "NaN", "1e5", "1_0", thousands separators or currency signs.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
LONDON = ZoneInfo("Europe/London")


def pick(data: dict[str, Any], *names: str) -> Any:
    """The first non-blank value among the column names (already header_key'd)."""
    for name in names:
        value = data.get(name)
        if value is not None and value != "":
            return value
    return None


def text(data: dict[str, Any], *names: str) -> str | None:
    value = pick(data, *names)
    return None if value is None else str(value).strip() or None


def currency(value: Any, default: str) -> str:
    if value is None:
        return default.upper()
    code = str(value).strip().upper()
    if code not in EXPONENTS:
        raise RowError("currency", f"unknown currency {value!r}")
    return code


def money(value: Any, currency_code: str, column: str, *, default: int | None = None) -> int:
    """ "12.50" GBP -> 1250; more decimal places than the currency has is an error."""
    if value is None:
        if default is None:
            raise RowError(column, "missing")
        return default
    raw = str(value).strip()
    if isinstance(value, bool) or not _DECIMAL.fullmatch(raw):
        raise RowError(column, f"not a decimal amount: {value!r}")
    try:
        minor = Decimal(raw).scaleb(EXPONENTS[currency_code])
    except InvalidOperation:  # pragma: no cover - the pattern already excludes these
        raise RowError(column, f"not a decimal amount: {value!r}") from None
    if minor != minor.to_integral_value():
        places = EXPONENTS[currency_code]
        raise RowError(column, f"{value!r} has more than {places} decimal places")
    if minor < 0:
        raise RowError(column, f"must not be negative: {value!r}")
    return int(minor)


def integer(value: Any, column: str, *, default: int | None = None) -> int:
    if value is None:
        if default is None:
            raise RowError(column, "missing")
        return default
    raw = str(value).strip()
    if isinstance(value, bool) or not _INTEGER.fullmatch(raw):
        raise RowError(column, f"not a whole number: {value!r}")
    return int(raw)


def flag(value: Any, column: str, *, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raw = str(value).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise RowError(column, f"expected true or false, not {value!r}")


def timestamp(value: Any, column: str) -> datetime:
    """ISO 8601 with a UTC offset, or a date (midnight in London, the shops' zone)."""
    if value is None:
        raise RowError(column, "missing")
    raw = str(value).strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), LONDON).astimezone(UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RowError(column, f"not an ISO 8601 date or time: {value!r}") from None
    if moment.tzinfo is None:
        raise RowError(column, f"{value!r} has no UTC offset (add Z or +01:00)")
    return moment.astimezone(UTC)


def day(value: Any, column: str) -> date | None:
    if value is None:
        return None
    raw = str(value).strip()[:10]
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RowError(column, f"not an ISO 8601 date: {value!r}") from None
