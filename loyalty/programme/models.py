"""The loyalty programme: settings, rules, tiers, rewards, orders and the points ledger."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ExpiryMode(StrEnum):
    NONE = "none"
    PER_BATCH = "per_batch"
    INACTIVITY = "inactivity"


class TierBasis(StrEnum):
    SPEND = "spend"
    POINTS = "points"


class TierWindow(StrEnum):
    ROLLING_12_MONTHS = "rolling_12_months"
    LIFETIME = "lifetime"


class Programme(Model):
    """Per-shop programme settings (one row per shop)."""

    id = fields.IntField(primary_key=True)
    shop = fields.OneToOneField("models.Shop", related_name="programme")
    points_per_pound = fields.IntField(default=1)
    include_shipping = fields.BooleanField(default=False)
    include_tax = fields.BooleanField(default=False)
    approval_days = fields.IntField(default=14)
    expiry_mode = fields.CharEnumField(ExpiryMode, default=ExpiryMode.NONE, max_length=16)
    expiry_days = fields.IntField(default=365)
    inactivity_months = fields.IntField(default=12)
    tier_basis = fields.CharEnumField(TierBasis, default=TierBasis.SPEND, max_length=16)
    tier_window = fields.CharEnumField(
        TierWindow, default=TierWindow.ROLLING_12_MONTHS, max_length=24
    )
    tier_grace_days = fields.IntField(default=0)
    refund_returns_voucher_points = fields.BooleanField(default=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "programmes"


class ActionKind(StrEnum):
    SIGNUP = "signup"
    BIRTHDAY = "birthday"
    REVIEW = "review"
    REFERRAL_REFERRER = "referral_referrer"
    REFERRAL_REFEREE = "referral_referee"
    CUSTOM = "custom"


class ActionLimit(StrEnum):
    ONCE = "once"
    PER_DAY = "per_day"
    PER_MONTH = "per_month"
    PER_YEAR = "per_year"
    UNLIMITED = "unlimited"


class EarningRule(Model):
    """Points for a one-off action (sign-up, birthday, review, referral, custom)."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="earning_rules")
    kind = fields.CharEnumField(ActionKind, max_length=24)
    key = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    points = fields.IntField()
    limit = fields.CharEnumField(ActionLimit, default=ActionLimit.ONCE, max_length=16)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "earning_rules"
        unique_together = (("shop", "key"),)


class Tier(Model):
    """A level reached by spend (pence) or points earned over the programme's window."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="tiers")
    name = fields.CharField(max_length=100)
    threshold = fields.IntField()
    multiplier_percent = fields.IntField(default=100)
    perks = fields.JSONField(default=list)
    archived = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tiers"
        ordering = ["threshold"]


class RewardKind(StrEnum):
    FIXED_AMOUNT = "fixed_amount"
    PERCENTAGE = "percentage"
    FREE_SHIPPING = "free_shipping"
    FREE_PRODUCT = "free_product"


class Reward(Model):
    """A catalogue entry a shopper buys with points, redeeming issues a voucher."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="rewards")
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(RewardKind, max_length=16)
    points_cost = fields.IntField()
    amount = fields.IntField(null=True)
    percentage = fields.IntField(null=True)
    product_id = fields.CharField(max_length=64, null=True)
    minimum_spend = fields.IntField(null=True)
    archived = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "rewards"


class VoucherStatus(StrEnum):
    PENDING = "pending"
    LIVE = "live"
    FAILED = "failed"
    USED = "used"
    CANCELLED = "cancelled"


class Voucher(Model):
    """A unique single-use code issued by a redemption."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="vouchers")
    customer = fields.ForeignKeyField("models.Customer", related_name="vouchers")
    reward = fields.ForeignKeyField("models.Reward", related_name="vouchers")
    code = fields.CharField(max_length=32)
    points_spent = fields.IntField()
    status = fields.CharEnumField(VoucherStatus, default=VoucherStatus.LIVE, max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)
    used_at = fields.DatetimeField(null=True)
    used_order = fields.ForeignKeyField(
        "models.Order", related_name="vouchers_used", null=True, on_delete=fields.SET_NULL
    )
    cancelled_at = fields.DatetimeField(null=True)
    platform_discount_id = fields.CharField(
        max_length=255,
        null=True,
        description=(
            "The shop's id for the pushed code, a Shopify discount node GID or a"
            " WooCommerce coupon id, cleared once the code is withdrawn from the shop"
        ),
    )

    class Meta:
        table = "vouchers"
        unique_together = (("shop", "code"),)


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class Order(Model):
    """An order reported by the shop, money in minor units of `currency`."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="orders")
    customer = fields.ForeignKeyField("models.Customer", related_name="orders", null=True)
    external_id = fields.CharField(max_length=64)
    currency = fields.CharField(max_length=3)
    subtotal = fields.IntField()
    discounts = fields.IntField(default=0)
    shipping = fields.IntField(default=0)
    tax = fields.IntField(default=0)
    taxes_included = fields.BooleanField(default=False)
    refunded = fields.IntField(default=0)
    status = fields.CharEnumField(OrderStatus, max_length=16)
    lines = fields.JSONField(default=list)
    discount_codes = fields.JSONField(default=list)
    points_awarded = fields.IntField(default=0)
    awarded_at = fields.DatetimeField(null=True)
    placed_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "orders"
        unique_together = (("shop", "external_id"),)


class Refund(Model):
    """A refund of an order as the shop reported it, whose id makes repeats harmless."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="refunds")
    order = fields.ForeignKeyField("models.Order", related_name="refund_records")
    external_id = fields.CharField(max_length=64)
    amount = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "refunds"
        unique_together = (("order", "external_id"),)


class EntryKind(StrEnum):
    EARN = "earn"
    CONFIRM = "confirm"
    REDEEM = "redeem"
    ADJUST = "adjust"
    REVERSE = "reverse"
    EXPIRE = "expire"
    IMPORT = "import"


class LedgerEntry(Model):
    """One append-only movement of points.

    `points` moves the spendable balance and `pending_points` the pending one, so
    confirming a pending earn is a new entry (+N spendable, -N pending), never an edit.
    """

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="ledger_entries")
    customer = fields.ForeignKeyField("models.Customer", related_name="ledger_entries")
    kind = fields.CharEnumField(EntryKind, max_length=16)
    points = fields.IntField(default=0)
    pending_points = fields.IntField(default=0)
    description = fields.CharField(max_length=255, default="")
    order = fields.ForeignKeyField("models.Order", related_name="ledger_entries", null=True)
    rule = fields.ForeignKeyField("models.EarningRule", related_name="ledger_entries", null=True)
    voucher = fields.ForeignKeyField("models.Voucher", related_name="ledger_entries", null=True)
    parent = fields.ForeignKeyField("models.LedgerEntry", related_name="children", null=True)
    actor = fields.CharField(max_length=100, null=True)
    reason = fields.CharField(max_length=500, null=True)
    available_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    idempotency_key = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "ledger_entries"
        unique_together = (("shop", "idempotency_key"),)
        ordering = ["-created_at", "-id"]
