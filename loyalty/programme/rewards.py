"""The rewards catalogue and redemption: a voucher and its redeem entry in one transaction."""

from __future__ import annotations

import secrets
from typing import Any

from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.errors import DomainError, NotFound
from loyalty.programme import ledger
from loyalty.programme.models import (
    EntryKind,
    LedgerEntry,
    Order,
    Programme,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from loyalty.shops.models import Shop

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read aloud
CANCELLABLE = (VoucherStatus.PENDING, VoucherStatus.LIVE)  # FAILED ones already refunded


def new_code() -> str:
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    return f"LOY-{body[:5]}-{body[5:]}"


def validate_reward(
    kind: RewardKind,
    points_cost: int,
    amount: int | None,
    percentage: int | None,
    product_id: str | None,
) -> None:
    """The fields each kind of reward needs, with the field at fault named."""
    if points_cost <= 0:
        raise DomainError("INVALID", "points cost must be positive", "pointsCost")
    if kind == RewardKind.FIXED_AMOUNT and (amount is None or amount <= 0):
        raise DomainError("INVALID", "a fixed-amount reward needs a positive amount", "amount")
    if kind == RewardKind.PERCENTAGE and (percentage is None or not 0 < percentage <= 100):
        raise DomainError("INVALID", "percentage must be between 1 and 100", "percentage")
    if kind == RewardKind.FREE_PRODUCT and not product_id:
        raise DomainError("INVALID", "a free-product reward needs a product id", "productId")


async def redeem(customer: Customer, reward_id: int) -> Voucher:
    """Spend points on a reward; refused with a user error when the balance is short."""
    reward = await Reward.get_or_none(id=reward_id, shop_id=customer.shop_id)
    if reward is None:
        raise NotFound("reward", "rewardId")
    if reward.archived:
        raise DomainError("REWARD_INACTIVE", "this reward is no longer available", "rewardId")
    # A shop on Shopify or WooCommerce gets the code pushed in by a worker: pending till then.
    pushed = await Shop.filter(
        id=customer.shop_id, integrations__platform__in=("shopify", "woocommerce")
    ).exists()
    async with in_transaction():
        voucher = await Voucher.create(
            shop_id=customer.shop_id,
            customer_id=customer.id,
            reward_id=reward.id,
            code=new_code(),
            points_spent=reward.points_cost,
            status=VoucherStatus.PENDING if pushed else VoucherStatus.LIVE,
        )
        await ledger.post(
            customer,
            EntryKind.REDEEM,
            points=-reward.points_cost,
            require_funds=True,
            voucher_id=voucher.id,
            description=f"Redeemed {reward.name}",
        )
    return voucher


async def return_points(
    voucher: Voucher, why: str, *, description: str, actor: str | None = None, **extra: Any
) -> None:
    """Give a voucher's points back, once per `why` (the entry's key says so).

    Under per-batch expiry the points return with the expiry of the batch the
    redemption spent (oldest first: the earliest expiry still live when redeemed),
    so redeeming and cancelling never makes points permanent.
    """
    customer = await Customer.get(id=voucher.customer_id)
    redeemed = await LedgerEntry.get(voucher_id=voucher.id, kind=EntryKind.REDEEM)
    spent_batch = (
        await LedgerEntry.filter(
            customer_id=customer.id, points__gt=0, expires_at__gte=redeemed.created_at
        )
        .order_by("expires_at")
        .first()
    )
    await ledger.post(
        customer,
        EntryKind.REVERSE,
        points=voucher.points_spent,
        voucher_id=voucher.id,
        actor=actor,
        description=description,
        idempotency_key=f"voucher:{voucher.id}:{why}",
        expires_at=spent_batch.expires_at if spent_batch else None,
        **extra,
    )


async def cancel_voucher(voucher: Voucher, *, actor: str) -> Voucher:
    """Cancel an unused voucher and give its points back, exactly once."""
    async with in_transaction():
        moved = await Voucher.filter(id=voucher.id, status__in=CANCELLABLE).update(
            status=VoucherStatus.CANCELLED, cancelled_at=clock.now()
        )
        if not moved:
            raise DomainError("VOUCHER_NOT_CANCELLABLE", "only an unused voucher can be cancelled")
        await return_points(
            voucher, "cancel", actor=actor, description=f"Voucher {voucher.code} cancelled"
        )
    await voucher.refresh_from_db()
    return voucher


async def mark_used_by_order(order: Order) -> list[Voucher]:
    """Loyalty codes among the order's discount codes are now used (shop codes are ignored)."""
    codes = [code.strip().upper() for code in order.discount_codes if code.strip()]
    if not codes:
        return []
    vouchers = await Voucher.filter(shop_id=order.shop_id, code__in=codes, status__in=CANCELLABLE)
    for voucher in vouchers:
        await Voucher.filter(id=voucher.id, status__in=CANCELLABLE).update(
            status=VoucherStatus.USED, used_at=clock.now(), used_order_id=order.id
        )
    return vouchers


async def credit_back_for_voided_order(order: Order, programme: Programme) -> None:
    """A fully refunded or cancelled order gives back the points of vouchers used on it.

    Once per voucher (keyed), and only if the shop keeps the default policy.
    """
    if not programme.refund_returns_voucher_points:
        return
    for voucher in await Voucher.filter(used_order_id=order.id):
        if await ledger.existing(order.shop_id, f"voucher:{voucher.id}:order-voided"):
            continue
        await return_points(
            voucher,
            "order-voided",
            description=f"Voucher {voucher.code} returned with order {order.external_id}",
        )
