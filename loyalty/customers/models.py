"""Shopper profiles."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Customer(Model):
    """A shopper of one shop, whose balances are caches of the ledger, kept in step with it."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="customers")
    external_id = fields.CharField(max_length=64, null=True)
    email = fields.CharField(max_length=320, null=True)
    phone = fields.CharField(max_length=20, null=True)
    first_name = fields.CharField(max_length=100, null=True)
    last_name = fields.CharField(max_length=100, null=True)
    birthday = fields.DateField(null=True)
    birth_month = fields.SmallIntField(null=True)
    birth_day = fields.SmallIntField(null=True)
    country = fields.CharField(max_length=2, null=True)
    time_zone = fields.CharField(max_length=64, null=True)
    referral_code = fields.CharField(max_length=16, unique=True)
    referred_by = fields.ForeignKeyField(
        "models.Customer", related_name="referrals", null=True, on_delete=fields.SET_NULL
    )
    points_balance = fields.IntField(default=0)
    pending_points = fields.IntField(default=0)
    tier = fields.ForeignKeyField(
        "models.Tier", related_name="customers", null=True, on_delete=fields.SET_NULL
    )
    tier_achieved_at = fields.DatetimeField(null=True)
    tier_below_since = fields.DatetimeField(null=True)
    last_order_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "customers"
        unique_together = (("shop", "external_id"), ("shop", "email"))
        indexes = (("shop_id", "birth_month", "birth_day"),)

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)
