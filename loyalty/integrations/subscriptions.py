"""Recharge subscriptions on the customer profile, and paid charges as orders.

A paid charge earns points like an order, except when the shop also syncs orders from
Shopify or WooCommerce and the charge names the shop order it created: that order
arrives through the shop's own webhooks and earns there, so points are never doubled.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from loyalty import clock
from loyalty.integrations import recharge
from loyalty.integrations.models import (
    Integration,
    Platform,
    Subscription,
    SubscriptionEventRecord,
)
from loyalty.programme import orders
from loyalty.programme.members import sync_customer


async def _link_customer(shop_id: int, recharge_customer_id: str | None, customer_id: int) -> None:
    """A charge names the shop's customer: attach their earlier subscription rows."""
    if recharge_customer_id is None:
        return
    for model in (Subscription, SubscriptionEventRecord):
        await model.filter(
            shop_id=shop_id, recharge_customer_id=recharge_customer_id, customer_id=None
        ).update(customer_id=customer_id)


async def _known_customer_id(shop_id: int, recharge_customer_id: str | None) -> int | None:
    if recharge_customer_id is None:
        return None
    row = await Subscription.filter(
        shop_id=shop_id, recharge_customer_id=recharge_customer_id, customer_id__not_isnull=True
    ).first()
    return row.customer_id if row else None


async def apply_subscription(shop_id: int, topic: str, payload: Any) -> Subscription:
    event = recharge.subscription_event(payload)
    customer_id = await _known_customer_id(shop_id, event.recharge_customer_id)
    if event.customer is not None:
        customer, _ = await sync_customer(shop_id, event.customer)
        customer_id = customer.id
    values = {
        "status": event.status,
        "product_title": event.product_title,
        "quantity": event.quantity,
        "price": event.price,
        "currency": event.currency,
        "next_charge_on": event.next_charge_on,
        "recharge_customer_id": event.recharge_customer_id,
    }
    if customer_id is not None:
        values["customer_id"] = customer_id
    subscription, _ = await Subscription.update_or_create(
        values, shop_id=shop_id, external_id=event.subscription_id
    )
    await SubscriptionEventRecord.create(
        shop_id=shop_id,
        subscription=subscription,
        customer_id=subscription.customer_id,
        recharge_customer_id=event.recharge_customer_id,
        topic=topic,
        detail={"status": event.status, "product_title": event.product_title},
        occurred_at=clock.now(),
    )
    return subscription


async def apply_charge(shop_id: int, topic: str, payload: Any) -> str | None:
    """Record a charge event; a paid one earns as an order unless the shop order will."""
    record = recharge.charge_record(payload)
    shop_syncs_orders = await Integration.filter(
        shop_id=shop_id, platform__in=(Platform.SHOPIFY, Platform.WOOCOMMERCE)
    ).exists()
    earns_elsewhere = shop_syncs_orders and record.shop_order_id is not None
    customer_id = await _known_customer_id(shop_id, record.recharge_customer_id)
    recorded: str | None = None
    if not earns_elsewhere:
        data = record.order
        order = await orders.record_order(
            shop_id, replace(data, external_id=f"recharge-{record.charge_id}")
        )
        recorded = order.external_id
        customer_id = order.customer_id or customer_id
    elif record.order.customer is not None:
        customer, _ = await sync_customer(shop_id, record.order.customer)
        customer_id = customer.id
    if customer_id is not None:
        await _link_customer(shop_id, record.recharge_customer_id, customer_id)
    await SubscriptionEventRecord.create(
        shop_id=shop_id,
        customer_id=customer_id,
        recharge_customer_id=record.recharge_customer_id,
        topic=topic,
        detail={
            "charge_id": record.charge_id,
            "shop_order_id": record.shop_order_id,
            "amount": record.order.subtotal - record.order.discounts,
            "currency": record.order.currency,
            "earned_here": not earns_elsewhere,
        },
        occurred_at=clock.now(),
    )
    return recorded
