"""Service messages the programme owes a shopper (transactional: no marketing consent needed).

A shop can word each one with a template of the same key on that channel; otherwise
the built-in text is used.
"""

from __future__ import annotations

from loyalty.consent.models import Channel, Purpose
from loyalty.customers.models import Customer
from loyalty.messaging.models import Message, MessageTemplate
from loyalty.messaging.service import queue_message
from loyalty.programme.models import Reward, Voucher

VOUCHER_FAILED = "voucher_failed"
_SUBJECT = "We couldn't create your {{ reward }} code"
_TEXT = (
    "Hi {{ first_name or 'there' }}, we couldn't create your {{ reward }} code in the shop, "
    "so your {{ points }} points are back in your balance ({{ points_balance }} points). "
    "Sorry about that: you can redeem them again at any time."
)


def _channel_for(customer: Customer) -> Channel | None:
    if customer.email:
        return Channel.EMAIL
    if customer.phone:
        return Channel.SMS
    return None


async def voucher_failed(voucher_id: int) -> Message | None:
    """Tell the shopper their voucher failed and their points are back.

    Returns the new message, or None when there is nobody to tell or they were told.
    """
    key = f"voucher-failed:{voucher_id}"
    voucher = await Voucher.get(id=voucher_id)
    if await Message.exists(shop_id=voucher.shop_id, idempotency_key=key):
        return None
    customer = await Customer.get(id=voucher.customer_id)
    channel = _channel_for(customer)
    if channel is None:
        return None
    reward = await Reward.get(id=voucher.reward_id)
    own = await MessageTemplate.exists(
        shop_id=customer.shop_id, key=VOUCHER_FAILED, channel=channel
    )
    return await queue_message(
        customer,
        channel,
        Purpose.TRANSACTIONAL,
        template_key=VOUCHER_FAILED if own else None,
        content=None if own else _TEXT,
        subject=None if own else _SUBJECT,
        context={"reward": reward.name, "points": voucher.points_spent},
        voucher_code=voucher.code,
        source=f"voucher:{voucher.id}",
        idempotency_key=key,
    )
