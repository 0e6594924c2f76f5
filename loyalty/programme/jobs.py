"""Scheduled programme work: confirm pending points, expire points, re-evaluate tiers.

Each job is idempotent: entries it writes carry a key derived from what they settle,
so a second run (or a redelivered task) finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q, Subquery
from tortoise.functions import Coalesce, Sum
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.programme import earning, ledger, tiers
from loyalty.programme.models import (
    ActionKind,
    EntryKind,
    ExpiryMode,
    LedgerEntry,
    Order,
    Programme,
)


@dataclass
class JobReport:
    customers: int = 0
    entries: int = 0
    points: int = 0


async def confirm_pending(shop_id: int) -> JobReport:
    """Turn pending earns past their approval date into spendable points."""
    report = JobReport()
    programme = await Programme.get(shop_id=shop_id)
    due = await LedgerEntry.filter(
        shop_id=shop_id,
        kind=EntryKind.EARN,
        pending_points__gt=0,
        available_at__lte=clock.now(),
    ).exclude(
        # A subquery, not `children__kind`: that LEFT JOIN compares NULL for an earn with
        # no children yet, and NOT NULL drops every earn never refunded nor confirmed.
        id__in=Subquery(
            LedgerEntry.filter(
                shop_id=shop_id, kind=EntryKind.CONFIRM, parent_id__isnull=False
            ).values("parent_id")
        )
    )
    touched: set[int] = set()
    for entry in due:
        async with in_transaction():
            if entry.order_id is not None:  # the same lock a refund or cancellation takes
                await Order.select_for_update().filter(id=entry.order_id).first()
            key = f"confirm:{entry.id}"
            if await ledger.existing(shop_id, key) is not None:
                continue
            remaining = await ledger.pending_remaining(entry)
            customer = await Customer.get(id=entry.customer_id)
            await ledger.post(
                customer,
                EntryKind.CONFIRM,
                points=remaining,
                pending_points=-remaining,
                parent_id=entry.id,
                order_id=entry.order_id,
                rule_id=entry.rule_id,
                expires_at=earning.expiry_for(programme, clock.now()),
                description=f"Confirmed: {entry.description}",
                idempotency_key=key,
            )
        report.entries += 1
        report.points += remaining
        touched.add(entry.customer_id)
    for customer in await Customer.filter(id__in=touched):
        await tiers.evaluate_tier(customer, programme)
    report.customers = len(touched)
    return report


async def _sum(query) -> int:
    row = await query.annotate(s=Coalesce(Sum("points"), 0)).first().values("s")
    return int((row or {}).get("s") or 0)


async def expire_points(shop_id: int) -> JobReport:
    """Expire points under the shop's policy.

    Per batch: points are spent oldest first, so of a balance B only the credits
    that have not lapsed (sum L; credits without an expiry date, such as
    adjustments, count as live) can remain; B - L expires. Inactivity: the whole
    balance lapses N months after the last order (or joining, if none). A second
    run finds nothing more to expire, so no key is needed.
    """
    report = JobReport()
    programme = await Programme.get(shop_id=shop_id)
    now = clock.now()
    if programme.expiry_mode == ExpiryMode.NONE:
        return report
    for customer in await Customer.filter(shop_id=shop_id, points_balance__gt=0):
        async with in_transaction():
            customer = await Customer.select_for_update().get(id=customer.id)
            if programme.expiry_mode == ExpiryMode.PER_BATCH:
                live = await _sum(
                    LedgerEntry.filter(customer_id=customer.id, points__gt=0).filter(
                        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
                    )
                )
                lapsed = customer.points_balance - live
            else:
                last = customer.last_order_at or customer.created_at
                inactive_for = timedelta(days=30 * programme.inactivity_months)
                lapsed = customer.points_balance if now - last >= inactive_for else 0
            if lapsed <= 0:
                continue
            await ledger.post(
                customer,
                EntryKind.EXPIRE,
                points=-lapsed,
                description="Points expired",
            )
        report.customers += 1
        report.entries += 1
        report.points += lapsed
    return report


async def reevaluate_tiers(shop_id: int) -> JobReport:
    """Scheduled re-evaluation: the only place a tier may go down."""
    report = JobReport()
    programme = await Programme.get(shop_id=shop_id)
    for customer in await Customer.filter(shop_id=shop_id, tier_id__isnull=False):
        before = customer.tier_id
        await tiers.evaluate_tier(customer, programme, allow_downgrade=True)
        report.customers += 1
        if customer.tier_id != before:
            report.entries += 1
    return report


async def award_birthdays(shop_id: int) -> JobReport:
    """Birthday points on the customer's birthday (29 Feb counts on 28 Feb in other years)."""
    report = JobReport()
    rule = await earning.active_rule(shop_id, ActionKind.BIRTHDAY)
    if rule is None:
        return report
    programme = await Programme.get(shop_id=shop_id)
    today = clock.now().date()
    days = [today.day] + ([29] if (today.month, today.day) == (2, 28) else [])
    born_today = Customer.filter(shop_id=shop_id, birth_month=today.month, birth_day__in=days)
    for customer in await born_today:
        key = f"birthday:{customer.id}:{today.year}"
        if await ledger.existing(shop_id, key) is not None:
            continue
        await earning.award(
            customer,
            programme,
            rule.points,
            pending=False,
            rule_id=rule.id,
            description=rule.name,
            idempotency_key=key,
        )
        report.customers += 1
        report.entries += 1
        report.points += rule.points
    return report
