"""Writers for the files a merchant would hand us, and the frozen time of the tests."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)

ORDER_COLUMNS = [
    "order_id",
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "currency",
    "subtotal",
    "discounts",
    "shipping",
    "tax",
    "status",
    "placed_at",
]


def order_row(i: int, customers: int = 1000) -> dict[str, str]:
    """Order #i of a made-up history: 1,000 customers, the last 300 days, GBP."""
    c = i % customers
    placed = T0 - timedelta(days=300) + timedelta(minutes=37 * i)
    return {
        "order_id": f"#{100000 + i}",
        "customer_id": f"cust-{c}",
        "email": f"shopper{c}@example.co.uk",
        "first_name": "Ada",
        "last_name": f"Lovelace{c}",
        "currency": "GBP",
        "subtotal": f"{20 + i % 50}.{i % 100:02d}",
        "discounts": "1.00" if i % 7 == 0 else "0",
        "shipping": "3.95",
        "tax": "0.00",
        "status": "paid",
        "placed_at": placed.isoformat(),
    }


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
