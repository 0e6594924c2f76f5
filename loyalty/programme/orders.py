"""Orders from the shop: points once per order, reversed pro rata on refunds."""

from __future__ import annotations

from dataclasses import asdict

from tortoise.functions import Coalesce, Sum
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.errors import DomainError, NotFound
from loyalty.programme import earning, ledger, rewards, tiers
from loyalty.programme.inputs import OrderInput, RefundInput
from loyalty.programme.members import sync_customer
from loyalty.programme.models import (
    ActionKind,
    EntryKind,
    LedgerEntry,
    Order,
    OrderStatus,
    Programme,
    Refund,
    Tier,
)

EARNING = (OrderStatus.PAID, OrderStatus.FULFILLED)
VOIDED = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


def _validate(data: OrderInput) -> None:
    if not data.external_id:
        raise DomainError("INVALID", "an order needs its shop's id", "externalId")
    for name in ("subtotal", "discounts", "shipping", "tax"):
        if getattr(data, name) < 0:
            raise DomainError("INVALID", f"{name} must not be negative", name)
    if data.discounts > data.subtotal:
        raise DomainError("INVALID", "discounts exceed the subtotal", "discounts")


def order_total(order: Order) -> int:
    """What the shopper paid (tax is already inside the prices when taxes_included)."""
    tax_on_top = 0 if order.taxes_included else order.tax
    return order.subtotal - order.discounts + order.shipping + tax_on_top


async def _order_entries_sum(order: Order) -> tuple[int, int]:
    """(spendable, pending) points this order has moved so far, net of reversals."""
    row = (
        await LedgerEntry.filter(order_id=order.id)
        .annotate(p=Coalesce(Sum("points"), 0), pp=Coalesce(Sum("pending_points"), 0))
        .first()
        .values("p", "pp")
    )
    return int((row or {}).get("p") or 0), int((row or {}).get("pp") or 0)


async def record_order(shop_id: int, data: OrderInput) -> Order:
    """Create or update an order; award its points once, or reverse them if it is voided.

    Safe to call again with a newer state of the same order: points follow the order's
    state, never its number of deliveries.
    """
    _validate(data)
    programme = await Programme.get(shop_id=shop_id).prefetch_related("shop")
    if data.currency.upper() != programme.shop.currency:
        raise DomainError(
            "CURRENCY_MISMATCH",
            f"order is in {data.currency.upper()} but the shop's programme runs in "
            f"{programme.shop.currency}: send amounts in the shop currency",
            "currency",
        )
    async with in_transaction():
        customer = None
        if data.customer is not None:
            customer, _ = await sync_customer(shop_id, data.customer)
        values = {
            "currency": data.currency.upper(),
            "subtotal": data.subtotal,
            "discounts": data.discounts,
            "shipping": data.shipping,
            "tax": data.tax,
            "taxes_included": data.taxes_included,
            "status": data.status,
            "lines": [asdict(line) for line in data.lines],
            "discount_codes": list(data.discount_codes),
        }
        if customer is not None:
            values["customer_id"] = customer.id  # an update without one keeps the link
        order = (
            await Order.select_for_update()
            .filter(shop_id=shop_id, external_id=data.external_id)
            .first()
        )  # locked: concurrent deliveries of one order settle its points one at a time
        if order is None:
            order = await Order.create(
                shop_id=shop_id,
                external_id=data.external_id,
                placed_at=data.placed_at or clock.now(),
                **values,
            )
        else:
            if order.status in VOIDED and data.status not in VOIDED:
                values["status"] = order.status  # a late 'paid' never revives a voided order
            order.update_from_dict(values)
            await order.save()
        await rewards.mark_used_by_order(order)
        if customer is None and order.customer_id is not None:
            customer = await Customer.get(id=order.customer_id)
        if customer is not None:
            await _settle_points(order, customer, programme)
        if order.status in VOIDED:
            await rewards.credit_back_for_voided_order(order, programme)
    return order


async def _settle_points(order: Order, customer: Customer, programme: Programme) -> None:
    if order.status in EARNING and order.awarded_at is None:
        await _award_order(order, customer, programme)
    elif order.status in VOIDED:
        await _reverse(order, customer, programme, fraction_num=1, fraction_den=1)
    await tiers.evaluate_tier(customer, programme)


async def _award_order(order: Order, customer: Customer, programme: Programme) -> None:
    tier = await Tier.get_or_none(id=customer.tier_id) if customer.tier_id else None
    points = earning.points_for_amount(programme, earning.earning_base(programme, order), tier)
    is_first = not await Order.filter(customer_id=customer.id, awarded_at__isnull=False).exists()
    if points > 0:
        await earning.award(
            customer,
            programme,
            points,
            pending=True,
            order_id=order.id,
            description=f"Order {order.external_id}",
            idempotency_key=f"order:{order.id}:earn",
        )
    awarded = {"points_awarded": points, "awarded_at": clock.now()}
    await Order.filter(id=order.id).update(**awarded)
    order.update_from_dict(awarded)
    last = customer.last_order_at
    if last is None or order.placed_at > last:
        await Customer.filter(id=customer.id).update(last_order_at=order.placed_at)
        customer.last_order_at = order.placed_at
    if is_first and customer.referred_by_id:
        await _complete_referral(customer, programme)


async def _complete_referral(referee: Customer, programme: Programme) -> None:
    """First order of a referred customer rewards both sides, once each."""
    referrer = await Customer.get(id=referee.referred_by_id)
    if referrer.id == referee.id or (referrer.email and referrer.email == referee.email):
        return
    for kind, who in (
        (ActionKind.REFERRAL_REFEREE, referee),
        (ActionKind.REFERRAL_REFERRER, referrer),
    ):
        rule = await earning.active_rule(referee.shop_id, kind)
        if rule is None:
            continue
        key = f"referral:{referee.id}:{kind.value}"
        if await ledger.existing(referee.shop_id, key) is not None:
            continue
        if not await earning.limit_reached(who, rule):  # e.g. a referrer rewarded once a month
            await earning.award(
                who,
                programme,
                rule.points,
                pending=True,
                rule_id=rule.id,
                description=rule.name,
                idempotency_key=key,
            )


async def _reverse(
    order: Order, customer: Customer, programme: Programme, *, fraction_num: int, fraction_den: int
) -> None:
    """Take back the order's points down to (1 - fraction) of what it earned.

    Pending points go first; the rest comes off the spendable balance, which may go
    negative if they were already spent (documented policy).
    """
    earned = await LedgerEntry.filter(order_id=order.id, kind=EntryKind.EARN).first()
    if earned is None:
        return
    total_earned = earned.points + earned.pending_points
    target_left = total_earned - (total_earned * fraction_num) // fraction_den
    spendable, pending = await _order_entries_sum(order)
    to_take = spendable + pending - target_left
    if to_take <= 0:
        return
    from_pending = min(pending, to_take)
    await ledger.post(
        customer,
        EntryKind.REVERSE,
        points=-(to_take - from_pending),
        pending_points=-from_pending,
        order_id=order.id,
        parent_id=earned.id,
        description=f"Refund of order {order.external_id}",
    )


async def record_refund(shop_id: int, data: RefundInput) -> Order:
    """Reverse points pro rata to the share of the order refunded so far."""
    if data.amount <= 0:
        raise DomainError("INVALID", "a refund amount must be positive", "amount")
    programme = await Programme.get(shop_id=shop_id)
    async with in_transaction():
        order = (
            await Order.select_for_update()
            .filter(shop_id=shop_id, external_id=data.order_external_id)
            .first()
        )  # locked: two refunds at once must both count
        if order is None:
            raise NotFound("order", "orderId")
        if data.external_id is not None:
            if await Refund.filter(order_id=order.id, external_id=data.external_id).exists():
                return order
            await Refund.create(
                shop_id=shop_id, order=order, external_id=data.external_id, amount=data.amount
            )
        total = order_total(order)
        refunded = min(total, order.refunded + data.amount)
        changes: dict[str, object] = {"refunded": refunded}
        if refunded >= total:
            changes["status"] = OrderStatus.REFUNDED
        await Order.filter(id=order.id).update(**changes)
        order.update_from_dict(changes)
        if order.customer_id is not None:
            customer = await Customer.get(id=order.customer_id)
            await _reverse(
                order, customer, programme, fraction_num=refunded, fraction_den=max(total, 1)
            )
            await tiers.evaluate_tier(customer, programme)
        if order.status in VOIDED:
            await rewards.credit_back_for_voided_order(order, programme)
    return order
