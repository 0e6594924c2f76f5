"""Consent per customer, channel and purpose, with an append-only history of every change."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class Purpose(StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class ConsentStatus(StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    NEVER_SUBSCRIBED = "never_subscribed"
    PENDING = "pending"


class LawfulBasis(StrEnum):
    CONSENT = "consent"
    SOFT_OPT_IN = "soft_opt_in"


class ConsentSource(StrEnum):
    STOREFRONT_FORM = "storefront_form"
    CHECKOUT = "checkout"
    API = "api"
    IMPORT = "import"
    STOP_REPLY = "stop_reply"
    UNSUBSCRIBE_LINK = "unsubscribe_link"
    PROVIDER_ERROR = "provider_error"
    DOUBLE_OPT_IN_CONFIRMATION = "double_opt_in_confirmation"
    MERCHANT = "merchant"


class ConsentState(Model):
    """The current consent of one customer for one channel and purpose.

    A missing row means never subscribed. `version` grows on every change so that
    concurrent writers compare-and-set instead of overwriting each other.
    """

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="consent_states")
    customer = fields.ForeignKeyField("models.Customer", related_name="consent_states")
    channel = fields.CharEnumField(Channel, max_length=16)
    purpose = fields.CharEnumField(Purpose, max_length=16)
    status = fields.CharEnumField(
        ConsentStatus, max_length=16, default=ConsentStatus.NEVER_SUBSCRIBED
    )
    lawful_basis = fields.CharEnumField(LawfulBasis, max_length=16, null=True)
    confirmation_nonce = fields.CharField(
        max_length=32, null=True, description="Ties a double opt-in link to its request"
    )
    version = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "consent_states"
        unique_together = (("customer", "channel", "purpose"),)
        indexes = (("shop_id", "channel", "purpose", "status"),)


class ConsentEvent(Model):
    """One change of consent with its source and evidence. Rows are never updated or deleted."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="consent_events")
    customer = fields.ForeignKeyField("models.Customer", related_name="consent_events")
    channel = fields.CharEnumField(Channel, max_length=16)
    purpose = fields.CharEnumField(Purpose, max_length=16)
    from_status = fields.CharEnumField(ConsentStatus, max_length=16)
    to_status = fields.CharEnumField(ConsentStatus, max_length=16)
    lawful_basis = fields.CharEnumField(LawfulBasis, max_length=16, null=True)
    source = fields.CharEnumField(ConsentSource, max_length=32)
    evidence = fields.JSONField(default=dict)
    actor = fields.CharField(max_length=100, null=True)
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "consent_events"
        indexes = (("customer_id", "id"),)

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if self._saved_in_db or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise PermissionError("consent events are append-only")
        await super().save(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("consent events are append-only")
