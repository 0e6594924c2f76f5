"""The one source of "now", so tests can move time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """Current time in UTC (or the time a test has set)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def set_now(value: datetime | None) -> None:
    """Freeze the clock at `value` (timezone-aware), or unfreeze with None."""
    global _frozen
    if value is not None and value.tzinfo is None:
        raise ValueError("clock time must be timezone-aware")
    _frozen = value
