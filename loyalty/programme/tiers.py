"""Tiers: upgrade the moment activity qualifies; downgrade only on re-evaluation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.functions import Coalesce, Sum

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.programme.models import (
    EntryKind,
    LedgerEntry,
    Order,
    OrderStatus,
    Programme,
    Tier,
    TierBasis,
    TierWindow,
)

EARNING_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)
WINDOW = timedelta(days=365)


def window_start(programme: Programme, now: datetime) -> datetime | None:
    return now - WINDOW if programme.tier_window == TierWindow.ROLLING_12_MONTHS else None


async def qualifying_amount(customer: Customer, programme: Programme, now: datetime) -> int:
    """Spend (pence, net of discounts and refunds) or confirmed points earned in the window.

    Redemptions are not subtracted: spending points never lowers a tier. Pending
    points do not count until confirmed.
    """
    return (await qualifying_amounts([customer], programme, now))[customer.id]


async def qualifying_amounts(
    customers: Iterable[Customer], programme: Programme, now: datetime
) -> dict[int, int]:
    """`qualifying_amount` of each customer (all of `programme`'s shop) in one query."""
    ids = sorted({c.id for c in customers})
    totals = dict.fromkeys(ids, 0)
    if not ids:
        return totals
    since = window_start(programme, now)
    if programme.tier_basis == TierBasis.SPEND:
        orders = Order.filter(customer_id__in=ids, status__in=EARNING_STATUSES)
        if since is not None:
            orders = orders.filter(placed_at__gte=since)
        for customer_id, subtotal, discounts, refunded in await orders.values_list(
            "customer_id", "subtotal", "discounts", "refunded"
        ):
            totals[customer_id] += max(0, subtotal - discounts - refunded)
        return totals
    # Earned points, less those reversed with their order (reversal entries are negative).
    entries = LedgerEntry.filter(
        Q(kind__in=(EntryKind.EARN, EntryKind.CONFIRM, EntryKind.IMPORT))
        | Q(kind=EntryKind.REVERSE, order_id__isnull=False),
        customer_id__in=ids,
    )
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    for row in (
        await entries.annotate(s=Coalesce(Sum("points"), 0))
        .group_by("customer_id")
        .values("customer_id", "s")
    ):
        totals[row["customer_id"]] += int(row["s"] or 0)
    return totals


async def active_tiers(shop_id: int) -> list[Tier]:
    return await active_tiers_of_shops([shop_id])


async def active_tiers_of_shops(shop_ids: Iterable[int]) -> list[Tier]:
    """The active tiers of the given shops, lowest first within each shop."""
    return await Tier.filter(shop_id__in=list(shop_ids), archived=False).order_by(
        "shop_id", "threshold", "id"
    )


def tier_for(tiers: list[Tier], amount: int) -> Tier | None:
    reached = [t for t in tiers if t.threshold <= amount]
    return reached[-1] if reached else None


async def evaluate_tier(
    customer: Customer, programme: Programme, *, allow_downgrade: bool = False
) -> Tier | None:
    """Move the customer to the tier their activity earns.

    Upgrades happen at once. A downgrade happens only when `allow_downgrade` (the
    scheduled re-evaluation) and, with a grace period, only after the customer has
    been below their tier for that long.
    """
    now = clock.now()
    tiers = await active_tiers(customer.shop_id)
    amount = await qualifying_amount(customer, programme, now)
    target = tier_for(tiers, amount)
    current = next((t for t in tiers if t.id == customer.tier_id), None)
    rank = {t.id: i for i, t in enumerate(tiers)}
    target_rank = rank[target.id] if target else -1
    current_rank = rank[current.id] if current else -1
    changes: dict[str, object] = {}
    if target_rank > current_rank:
        changes = {"tier_id": target.id if target else None, "tier_achieved_at": now}
        changes["tier_below_since"] = None
    elif target_rank < current_rank and allow_downgrade:
        grace = timedelta(days=programme.tier_grace_days)
        below_since = customer.tier_below_since or now
        if now - below_since >= grace:
            changes = {
                "tier_id": target.id if target else None,
                "tier_achieved_at": now,
                "tier_below_since": None,
            }
        elif customer.tier_below_since is None:
            changes = {"tier_below_since": now}
    elif target_rank == current_rank and customer.tier_below_since is not None:
        changes = {"tier_below_since": None}
    if changes:
        await Customer.filter(id=customer.id).update(**changes)
        customer.update_from_dict(changes)
    return target if "tier_id" in changes else current


async def next_tier(customer: Customer, programme: Programme) -> tuple[Tier | None, int]:
    """The next tier up and the amount still needed to reach it (0 at the top)."""
    tiers = await active_tiers(customer.shop_id)
    amount = await qualifying_amount(customer, programme, clock.now())
    return next_tier_from(tiers, customer, amount)


def next_tier_from(tiers: list[Tier], customer: Customer, amount: int) -> tuple[Tier | None, int]:
    """`next_tier` given the shop's active tiers and the customer's qualifying amount."""
    current = next((t for t in tiers if t.id == customer.tier_id), None)
    floor = current.threshold if current else -1
    for tier in tiers:
        if tier.threshold > floor and tier.threshold > amount:
            return tier, tier.threshold - amount
    return None, 0
