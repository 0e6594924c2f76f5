"""Joining the programme: syncing a shopper's profile and the sign-up reward."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from loyalty.customers.models import Customer
from loyalty.customers.service import upsert_customer
from loyalty.programme import earning
from loyalty.programme.inputs import CustomerInput
from loyalty.programme.models import ActionKind, Programme


async def sync_customer(shop_id: int, data: CustomerInput) -> tuple[Customer, bool]:
    """Upsert a profile; a new member gets the shop's sign-up points, once."""
    async with in_transaction():
        customer, created = await upsert_customer(shop_id, data)
        if created:
            rule = await earning.active_rule(shop_id, ActionKind.SIGNUP)
            if rule is not None:
                programme = await Programme.get(shop_id=shop_id)
                await earning.complete_action(
                    customer, programme, rule, idempotency_key=f"signup:{customer.id}"
                )
    return customer, created
