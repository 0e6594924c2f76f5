"""HTTP details shared by the adapters that talk to providers over httpx."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from loyalty.channels.base import RetryableSendError


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def transport_error(provider: str, exc: httpx.TransportError) -> RetryableSendError:
    """A request that got no HTTP answer; a retry may duplicate a message that did go."""
    code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
    return RetryableSendError(f"{provider}: {type(exc).__name__}", code=code)
