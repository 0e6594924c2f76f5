"""Marketing opt-ins a shop platform reports, kept as consent evidence.

Only explicit opt-ins count (the mapper infers nothing). A later opt-out recorded here
(STOP, unsubscribe link) wins over an older opt-in the shop keeps reporting: the
shop's opt-in is applied only if it is newer than our last change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loyalty.consent.models import Channel, ConsentSource, ConsentStatus, LawfulBasis, Purpose
from loyalty.consent.service import change_consent, get_state
from loyalty.customers.models import Customer
from loyalty.integrations import shopify


async def record_shopify_opt_ins(
    customer: Customer, shop_customer: Mapping[str, Any], *, source: ConsentSource, delivery: str
) -> int:
    """Apply the opt-ins in a Shopify customer object; returns how many changed consent."""
    changed = 0
    for opt_in in shopify.marketing_consents(shop_customer):
        channel = Channel(opt_in.channel)
        state = await get_state(customer, channel, Purpose.MARKETING)
        if state is not None and state.status == ConsentStatus.SUBSCRIBED:
            continue
        if (
            state is not None
            and state.status != ConsentStatus.NEVER_SUBSCRIBED
            and (opt_in.consent_updated_at is None or opt_in.consent_updated_at <= state.updated_at)
        ):
            continue
        result = await change_consent(
            customer,
            channel,
            Purpose.MARKETING,
            ConsentStatus.SUBSCRIBED,
            source=source,
            lawful_basis=LawfulBasis.CONSENT,
            actor="shopify",
            evidence={
                "platform": "shopify",
                "field": opt_in.source,
                "opt_in_level": opt_in.opt_in_level,
                "collected_from": opt_in.collected_from,
                "consent_updated_at": opt_in.consent_updated_at.isoformat()
                if opt_in.consent_updated_at
                else None,
                "webhook_delivery": delivery,
            },
        )
        changed += result.event is not None
    return changed
