"""How many points things earn, and awarding them (pending first when the shop asks)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.errors import DomainError, NotFound
from loyalty.programme import ledger
from loyalty.programme.models import (
    ActionKind,
    ActionLimit,
    EarningRule,
    EntryKind,
    ExpiryMode,
    LedgerEntry,
    Order,
    Programme,
    Tier,
)


def earning_base(programme: Programme, order: Order) -> int:
    """Pence that earn points: goods after discounts, plus shipping and tax if chosen.

    With tax-inclusive prices and tax excluded, the order's whole tax comes off the
    goods (shipping's share too, so the base errs low, never high).
    """
    base = order.subtotal - order.discounts
    if programme.include_shipping:
        base += order.shipping
    if order.taxes_included and not programme.include_tax:
        base -= order.tax
    elif not order.taxes_included and programme.include_tax:
        base += order.tax
    return max(0, base)


def points_for_amount(programme: Programme, pence: int, tier: Tier | None) -> int:
    """Whole points: points per £1 times the tier multiplier, rounded down."""
    multiplier = tier.multiplier_percent if tier else 100
    return (pence * programme.points_per_pound * multiplier) // (100 * 100)


def expiry_for(programme: Programme, earned_at: datetime) -> datetime | None:
    """When a credit lapses under per-batch expiry (None otherwise)."""
    if programme.expiry_mode != ExpiryMode.PER_BATCH:
        return None
    return earned_at + timedelta(days=programme.expiry_days)


async def award(
    customer: Customer,
    programme: Programme,
    points: int,
    *,
    pending: bool,
    **extra: object,
) -> LedgerEntry:
    """Credit points, held as pending for the approval period when `pending`."""
    now = clock.now()
    if pending and programme.approval_days > 0:
        return await ledger.post(
            customer,
            EntryKind.EARN,
            pending_points=points,
            available_at=now + timedelta(days=programme.approval_days),
            **extra,
        )
    return await ledger.post(
        customer,
        EntryKind.EARN,
        points=points,
        expires_at=expiry_for(programme, now),
        **extra,
    )


def period_start(limit: ActionLimit, now: datetime) -> datetime | None:
    """Start of the period a per-customer limit counts in (None = ever)."""
    if limit == ActionLimit.PER_DAY:
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if limit == ActionLimit.PER_MONTH:
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if limit == ActionLimit.PER_YEAR:
        return now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


async def limit_reached(customer: Customer, rule: EarningRule) -> bool:
    """Whether the customer has had this rule's points as often as its limit allows."""
    if rule.limit == ActionLimit.UNLIMITED:
        return False
    done = LedgerEntry.filter(customer_id=customer.id, rule_id=rule.id, kind=EntryKind.EARN)
    since = period_start(rule.limit, clock.now())
    if since is not None:
        done = done.filter(created_at__gte=since)
    return await done.exists()


async def complete_action(
    customer: Customer,
    programme: Programme,
    rule: EarningRule,
    *,
    idempotency_key: str | None = None,
    description: str | None = None,
) -> LedgerEntry:
    """Award a one-off action's points, within the rule's per-customer limit.

    A repeat with the same idempotency key returns the first entry (no second effect).
    """
    if idempotency_key:
        first = await ledger.existing(customer.shop_id, idempotency_key)
        if first is not None:
            if (first.customer_id, first.rule_id) != (customer.id, rule.id):
                raise DomainError(
                    "IDEMPOTENCY_KEY_REUSED",
                    "this idempotency key was already used with a different request",
                    "idempotencyKey",
                )
            return first
    if not rule.active:
        raise DomainError("RULE_INACTIVE", f"earning rule {rule.key!r} is not active", "rule")
    async with in_transaction():
        # The customer's row lock makes check-then-award one step on PostgreSQL.
        await Customer.select_for_update().filter(id=customer.id).first()
        if await limit_reached(customer, rule):
            raise DomainError(
                "LIMIT_REACHED", f"{rule.name} has already been rewarded ({rule.limit.value})"
            )
        return await award(
            customer,
            programme,
            rule.points,
            pending=False,
            rule_id=rule.id,
            description=description or rule.name,
            idempotency_key=idempotency_key,
        )


async def rule_for(shop_id: int, key: str) -> EarningRule:
    rule = await EarningRule.get_or_none(shop_id=shop_id, key=key)
    if rule is None:
        raise NotFound(f"earning rule {key!r}", "action")
    return rule


async def active_rule(shop_id: int, kind: ActionKind) -> EarningRule | None:
    return await EarningRule.filter(shop_id=shop_id, kind=kind, active=True).first()
