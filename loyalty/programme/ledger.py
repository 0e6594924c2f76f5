"""The points ledger: every movement of points is one appended entry.

The customer's cached `points_balance` and `pending_points` move in the same
transaction as the entry, with a guarded UPDATE, so a spend can never take the
balance below zero however many run at once (no read-then-write race).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.expressions import F
from tortoise.functions import Coalesce, Sum
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.errors import DomainError
from loyalty.programme.models import EntryKind, LedgerEntry


async def post(
    customer: Customer,
    kind: EntryKind,
    *,
    points: int = 0,
    pending_points: int = 0,
    require_funds: bool = False,
    **extra: Any,
) -> LedgerEntry:
    """Append one entry and move the cached balances with it.

    `require_funds` refuses the entry when it would take the spendable balance below
    zero (redemptions); refunds and expiries may not, by policy, and so pass False.
    """
    async with in_transaction():
        guarded = Customer.filter(id=customer.id)
        if require_funds:
            guarded = guarded.filter(points_balance__gte=-points)
        moved = await guarded.update(
            points_balance=F("points_balance") + points,
            pending_points=F("pending_points") + pending_points,
        )
        if not moved:
            raise DomainError("INSUFFICIENT_POINTS", "not enough points for this")
        entry = await LedgerEntry.create(
            shop_id=customer.shop_id,
            customer_id=customer.id,
            kind=kind,
            points=points,
            pending_points=pending_points,
            created_at=extra.pop("created_at", None) or clock.now(),
            **extra,
        )
    customer.points_balance += points
    customer.pending_points += pending_points
    return entry


@dataclass(frozen=True)
class BalanceCheck:
    """The cached balances beside the ledger's sums; `ok` when they agree."""

    cached_points: int
    ledger_points: int
    cached_pending: int
    ledger_pending: int

    @property
    def ok(self) -> bool:
        return (self.cached_points, self.cached_pending) == (
            self.ledger_points,
            self.ledger_pending,
        )


async def check_balance(customer_id: int) -> BalanceCheck:
    """Prove the cache equals the ledger for one customer."""
    customer = await Customer.get(id=customer_id)
    sums = (
        await LedgerEntry.filter(customer_id=customer_id)
        .annotate(p=Coalesce(Sum("points"), 0), pp=Coalesce(Sum("pending_points"), 0))
        .first()
        .values("p", "pp")
    )
    return BalanceCheck(
        cached_points=customer.points_balance,
        ledger_points=int(sums["p"] or 0) if sums else 0,
        cached_pending=customer.pending_points,
        ledger_pending=int(sums["pp"] or 0) if sums else 0,
    )


async def pending_remaining(entry: LedgerEntry) -> int:
    """Points of a pending earn not yet confirmed or reversed."""
    rows = (
        await LedgerEntry.filter(parent_id=entry.id)
        .annotate(pp=Coalesce(Sum("pending_points"), 0))
        .first()
        .values("pp")
    )
    return entry.pending_points + int((rows or {}).get("pp") or 0)


async def existing(shop_id: int, idempotency_key: str) -> LedgerEntry | None:
    return await LedgerEntry.get_or_none(shop_id=shop_id, idempotency_key=idempotency_key)
