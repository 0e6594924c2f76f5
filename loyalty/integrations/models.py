"""Per-shop connections to shop platforms, and every webhook delivery they send."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Platform(StrEnum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    RECHARGE = "recharge"


class Integration(Model):
    """One platform connection of a shop. Secrets are write-only: never returned or logged."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="integrations")
    platform = fields.CharEnumField(Platform, max_length=16)
    address = fields.CharField(max_length=255, default="", description="shop domain or site URL")
    webhook_secret = fields.CharField(max_length=255, default="")
    api_token = fields.CharField(max_length=255, default="")
    api_key = fields.CharField(max_length=255, default="")
    api_secret = fields.CharField(max_length=255, default="")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "integrations"
        unique_together = (("shop", "platform"),)

    def __repr__(self) -> str:
        return f"<Integration {self.platform} shop={self.shop_id} address={self.address!r}>"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    WAITING = "waiting"
    FAILED = "failed"
    IGNORED = "ignored"


class WebhookDelivery(Model):
    """A verified delivery, stored raw before processing so nothing is ever lost."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="webhook_deliveries")
    platform = fields.CharEnumField(Platform, max_length=16)
    topic = fields.CharField(max_length=64)
    delivery_id = fields.CharField(max_length=128)
    headers = fields.JSONField(default=dict)
    body = fields.TextField()
    status = fields.CharEnumField(DeliveryStatus, default=DeliveryStatus.RECEIVED, max_length=16)
    waiting_for = fields.CharField(max_length=64, null=True, description="an order id")
    error = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_deliveries"
        unique_together = (("shop", "platform", "delivery_id"),)
        indexes = (("shop_id", "status"),)


class Subscription(Model):
    """A Recharge subscription as last reported, shown on the customer's profile."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="subscriptions")
    customer = fields.ForeignKeyField(
        "models.Customer", related_name="subscriptions", null=True, on_delete=fields.SET_NULL
    )
    external_id = fields.CharField(max_length=64)
    recharge_customer_id = fields.CharField(max_length=64, null=True)
    status = fields.CharField(max_length=32)
    product_title = fields.CharField(max_length=255)
    quantity = fields.IntField(default=1)
    price = fields.IntField(description="per unit, minor units")
    currency = fields.CharField(max_length=3)
    next_charge_on = fields.DateField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "subscriptions"
        unique_together = (("shop", "external_id"),)


class SubscriptionEventRecord(Model):
    """What happened to a subscription and when (created, cancelled, charge paid...)."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="subscription_events")
    subscription = fields.ForeignKeyField(
        "models.Subscription", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    customer = fields.ForeignKeyField(
        "models.Customer", related_name="subscription_events", null=True, on_delete=fields.SET_NULL
    )
    recharge_customer_id = fields.CharField(max_length=64, null=True)
    topic = fields.CharField(max_length=64)
    detail = fields.JSONField(default=dict)
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "subscription_events"
