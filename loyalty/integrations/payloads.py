"""Reading untrusted shop JSON: one error type and small, strict field readers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


class PayloadError(ValueError):
    """A delivery we cannot map; `field` names the culprit so a stored copy can be fixed."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def load_json(body: bytes | str) -> dict[str, Any]:
    """Parse a delivery body so decimals become `Decimal` and integers stay exact `int`s."""
    try:
        data = json.loads(body, parse_float=Decimal)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PayloadError("body", f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise PayloadError("body", "expected a JSON object")
    return data


def section(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """A required nested object."""
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise PayloadError(path, "missing" if value is None else "expected an object")
    return value


def entries(parent: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
    """An optional list of objects; absent or null means empty."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(path, "expected a list")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise PayloadError(f"{path}[{index}]", "expected an object")
    return value


def identifier(value: Any, path: str) -> str:
    """A required id as a string; floats are refused because they may already be rounded."""
    result = optional_identifier(value, path)
    if result is None:
        raise PayloadError(path, "missing")
    return result


def optional_identifier(value: Any, path: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(path, f"expected an integer or string id, got {type(value).__name__}")
    return str(value).strip() or None


def text(value: Any, path: str) -> str | None:
    """Optional text, trimmed; blank means absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(path, f"expected text, got {type(value).__name__}")
    return str(value).strip() or None


def count(value: Any, path: str) -> int:
    """A non-negative whole quantity."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(path, f"expected a non-negative integer, got {value!r}")
    return value


def timestamp(value: Any, path: str, *, naive_is_utc: bool = False) -> datetime:
    """An ISO 8601 instant as an aware UTC datetime.

    A timestamp without an offset is refused unless the field is documented as UTC
    (`naive_is_utc`, e.g. WooCommerce `*_gmt`): guessing a shop's zone would shift orders.
    """
    if not isinstance(value, str):
        raise PayloadError(path, "missing" if value is None else "expected an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(path, f"not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise PayloadError(path, f"timestamp has no UTC offset: {value!r}")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def optional_timestamp(value: Any, path: str, *, naive_is_utc: bool = False) -> datetime | None:
    return None if value in (None, "") else timestamp(value, path, naive_is_utc=naive_is_utc)
