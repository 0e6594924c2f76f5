"""What a provider's error code means for the recipient, beyond the one failed message.

The same rules as the status callbacks in `loyalty.messaging.inbound` apply to the
errors a provider returns when we send (`apply_send_error`):

- **21610** (the recipient replied STOP to the sender): every purpose of the channel
  is unsubscribed at once through `consent.record_provider_opt_out`, source
  provider_error, with the code, the message and the address as evidence.
- **21211** (invalid To number): the address is suppressed on that channel
  (reason invalid_address).
- **30003, 30005, 30006** (unreachable handset, unknown destination, landline or
  unreachable carrier): when the last **3** messages to that address on that channel
  that reached a final status (failed, undelivered, delivered, read) all failed with
  one of these codes, the address is suppressed (reason repeated_failure). A delivery,
  or a failure for another reason, breaks the run, so one flaky day does not
  suppress a good number.
- **63016** (WhatsApp free-form text outside the 24-hour window) is handled where the
  message is sent: it is sent again as the template's approved WhatsApp content
  template (`ContentSid`), see `loyalty.messaging.service`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError

from loyalty.consent import service as consent
from loyalty.consent.models import Channel
from loyalty.customers.models import Customer
from loyalty.messaging.models import Message, MessageStatus, Suppression, SuppressionReason

log = logging.getLogger(__name__)

UNSUBSCRIBED = "21610"
INVALID_TO = "21211"
UNREACHABLE = frozenset({"30003", "30005", "30006"})
OUTSIDE_WHATSAPP_WINDOW = "63016"
REPEATED_FAILURE_LIMIT = 3

FAILURE_STATUSES = frozenset({MessageStatus.FAILED, MessageStatus.UNDELIVERED})
FINAL_STATUSES = FAILURE_STATUSES | {MessageStatus.DELIVERED, MessageStatus.READ}
WHATSAPP_PREFIX = "whatsapp:"


def plain_address(address: str) -> str:
    """The number without a `whatsapp:` prefix, as suppressions store it."""
    return address[len(WHATSAPP_PREFIX) :] if address.startswith(WHATSAPP_PREFIX) else address


async def suppress(
    shop_id: int, channel: Channel, address: str, reason: SuppressionReason, detail: str
) -> bool:
    """Put an address on the suppression list; False when it already was."""
    address = plain_address(address)
    if await Suppression.exists(shop_id=shop_id, channel=channel, address=address):
        return False
    try:
        await Suppression.create(
            shop_id=shop_id, channel=channel, address=address, reason=reason, detail=detail[:255]
        )
    except IntegrityError:
        return False  # suppressed concurrently
    log.info("suppressed %s address in shop %s: %s", channel.value, shop_id, reason.value)
    return True


async def _repeatedly_unreachable(message: Message) -> list[str] | None:
    recent = (
        await Message.filter(
            shop_id=message.shop_id,
            channel=message.channel,
            to_address=message.to_address,
            status__in=list(FINAL_STATUSES),
        )
        .order_by("-id")
        .limit(REPEATED_FAILURE_LIMIT)
        .values_list("status", "error_code")
    )
    if len(recent) == REPEATED_FAILURE_LIMIT and all(
        status in FAILURE_STATUSES and code in UNREACHABLE for status, code in recent
    ):
        return [code for _, code in recent]
    return None


async def apply_send_error(
    message: Message, code: str | None, *, evidence: Mapping[str, Any] | None = None
) -> None:
    """Apply the consequences of `code` for a message already recorded as failed."""
    if not code:
        return
    channel = Channel(message.channel)
    if code == UNSUBSCRIBED:
        customer = await Customer.get(id=message.customer_id, shop_id=message.shop_id)
        await consent.record_provider_opt_out(
            customer,
            channel,
            provider_error_code=code,
            evidence={
                **(evidence or {}),
                "message_id": message.id,
                "to": message.to_address,
            },
        )
    elif code == INVALID_TO:
        await suppress(
            message.shop_id,
            channel,
            message.to_address,
            SuppressionReason.INVALID_ADDRESS,
            f"provider error {code} on message {message.id}",
        )
    elif code in UNREACHABLE:
        codes = await _repeatedly_unreachable(message)
        if codes:
            await suppress(
                message.shop_id,
                channel,
                message.to_address,
                SuppressionReason.REPEATED_FAILURE,
                f"{REPEATED_FAILURE_LIMIT} consecutive failures ({', '.join(codes)}), "
                f"last message {message.id}",
            )
