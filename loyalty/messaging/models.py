"""Messages sent (or skipped) per customer, their templates, and the shop's sending rules."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from loyalty.consent.models import Channel, Purpose


class MessageStatus(StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"


class Message(Model):
    """One send to one customer on one channel, claimed before the provider call.

    `source` names the flow or campaign it came from (e.g. flow:12 or campaign:3).
    """

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="messages")
    customer = fields.ForeignKeyField("models.Customer", related_name="messages")
    channel = fields.CharEnumField(Channel, max_length=16)
    purpose = fields.CharEnumField(Purpose, max_length=16)
    template = fields.ForeignKeyField(
        "models.MessageTemplate", related_name="messages", null=True, on_delete=fields.SET_NULL
    )
    to_address = fields.CharField(max_length=320)
    subject = fields.CharField(max_length=255, null=True)
    body = fields.TextField()
    html = fields.TextField(null=True)
    content_sid = fields.CharField(max_length=64, null=True)
    content_variables = fields.JSONField(null=True)
    status = fields.CharEnumField(MessageStatus, default=MessageStatus.QUEUED, max_length=16)
    reason = fields.CharField(max_length=255, null=True, description="why skipped or deferred")
    send_after = fields.DatetimeField(null=True)
    provider = fields.CharField(max_length=32, null=True)
    provider_id = fields.CharField(max_length=128, null=True, db_index=True)
    error_code = fields.CharField(max_length=32, null=True)
    error_message = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    idempotency_key = fields.CharField(max_length=255, null=True)
    source = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "messages"
        unique_together = (("shop", "idempotency_key"),)
        indexes = (("customer_id", "channel", "sent_at"),)


class MessageTemplate(Model):
    """Merchant-editable Jinja2 text, rendered in a sandbox."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="message_templates")
    key = fields.CharField(max_length=64)
    channel = fields.CharEnumField(Channel, max_length=16)
    purpose = fields.CharEnumField(Purpose, default=Purpose.MARKETING, max_length=16)
    subject = fields.CharField(max_length=255, null=True)
    body = fields.TextField()
    html = fields.TextField(null=True)
    whatsapp_content_sid = fields.CharField(max_length=64, null=True)
    whatsapp_variables = fields.JSONField(
        default=list,
        description="Personalisation names for the content template variables 1, 2 and on",
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "message_templates"
        unique_together = (("shop", "key", "channel"),)


class SuppressionReason(StrEnum):
    INVALID_ADDRESS = "invalid_address"
    REPEATED_FAILURE = "repeated_failure"
    MANUAL = "manual"


class Suppression(Model):
    """An address that must not be sent to on a channel, whatever the consent says."""

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="suppressions")
    channel = fields.CharEnumField(Channel, max_length=16)
    address = fields.CharField(max_length=320)
    reason = fields.CharEnumField(SuppressionReason, max_length=24)
    detail = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "suppressions"
        unique_together = (("shop", "channel", "address"),)


def default_stop_keywords() -> list[str]:
    return ["STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL"]


def default_start_keywords() -> list[str]:
    return ["START", "YES", "UNSTOP"]


def default_help_keywords() -> list[str]:
    return ["HELP", "INFO"]


class MessagingSettings(Model):
    """Per-shop sending policy and sender identities (secrets stay in the environment)."""

    id = fields.IntField(primary_key=True)
    shop = fields.OneToOneField("models.Shop", related_name="messaging_settings")
    quiet_start = fields.CharField(max_length=5, default="21:00")
    quiet_end = fields.CharField(max_length=5, default="08:00")
    default_time_zone = fields.CharField(max_length=64, default="Europe/London")
    email_window_hours = fields.IntField(default=16)
    sms_window_hours = fields.IntField(default=24)
    whatsapp_window_hours = fields.IntField(default=24)
    cross_channel_window_hours = fields.IntField(null=True)
    email_from = fields.CharField(max_length=320, default="")
    sms_from = fields.CharField(max_length=32, default="")
    messaging_service_sid = fields.CharField(max_length=64, default="")
    whatsapp_from = fields.CharField(max_length=32, default="")
    stop_keywords = fields.JSONField(default=default_stop_keywords)
    start_keywords = fields.JSONField(default=default_start_keywords)
    help_keywords = fields.JSONField(default=default_help_keywords)
    help_text = fields.CharField(
        max_length=320, default="Reply STOP to unsubscribe. Msg&data rates may apply."
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "messaging_settings"


class InboundStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class InboundMessage(Model):
    """A verified inbound text (STOP, START, HELP or anything else), stored before it is acted on.

    Twilio never resends an inbound message, so a failure stays FAILED with its error
    and is processed again by the sweep. `message_sid` is unique, so a replayed request
    is recognised and changes nothing. `shop` is the shop named in the webhook URL, or
    null when the shops are found by the To number or Messaging Service.
    """

    id = fields.IntField(primary_key=True)
    shop = fields.ForeignKeyField("models.Shop", related_name="inbound_messages", null=True)
    message_sid = fields.CharField(max_length=64, unique=True)
    channel = fields.CharEnumField(Channel, max_length=16)
    from_address = fields.CharField(max_length=320, description="the sender, without whatsapp:")
    to_address = fields.CharField(max_length=320)
    body = fields.TextField()
    params = fields.JSONField(default=dict, description="every form parameter Twilio posted")
    status = fields.CharEnumField(InboundStatus, default=InboundStatus.RECEIVED, max_length=16)
    error = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True, description="the last attempt")

    class Meta:
        table = "inbound_messages"
        indexes = (("status", "received_at"), ("from_address", "channel"))
