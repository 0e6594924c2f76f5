"""Inbound shop webhooks: verify, store raw, then process on a worker; replay on demand.

A delivery is stored before any processing, so a failure never loses it: it stays
FAILED with its error until `loyalty webhooks replay`. A refund that arrives before
its order waits (WAITING) and is processed as soon as that order is recorded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.consent.models import ConsentSource
from loyalty.customers.models import Customer
from loyalty.customers.service import normalise_phone
from loyalty.errors import DomainError, NotFound
from loyalty.integrations import consent_sync, shopify, signatures, subscriptions, woocommerce
from loyalty.integrations.models import DeliveryStatus, Integration, Platform, WebhookDelivery
from loyalty.integrations.payloads import PayloadError, load_json
from loyalty.programme import orders
from loyalty.programme.inputs import CustomerInput, OrderInput, RefundInput
from loyalty.programme.members import sync_customer
from loyalty.programme.models import Order
from loyalty.shops.models import Shop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What to answer the platform, and the stored delivery to process (if any)."""

    status_code: int
    message: str
    delivery_id: int | None = None


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in names:
        if lowered.get(name.lower()):
            return lowered[name.lower()]
    return None


async def receive(
    shop_public_id: str, platform: Platform, headers: Mapping[str, str], body: bytes
) -> Receipt:
    """Check and store one delivery; never processes it here (platforms want a fast 200)."""
    shop = await Shop.get_or_none(public_id=shop_public_id)
    integration = (
        await Integration.get_or_none(shop_id=shop.id, platform=platform) if shop else None
    )
    if integration is None or not integration.webhook_secret:
        return Receipt(404, f"no {platform.value} integration for this shop")
    if platform == Platform.WOOCOMMERCE and body.startswith(b"webhook_id="):
        return Receipt(200, "ping acknowledged")  # WooCommerce's unsigned creation ping
    if platform == Platform.RECHARGE:
        topic = _header(headers, "x-recharge-topic") or ""
        given = _header(headers, signatures.RECHARGE_HEADER, signatures.RECHARGE_LEGACY_HEADER)
        valid = signatures.verify_recharge(
            body,
            integration.webhook_secret,
            signature=_header(headers, signatures.RECHARGE_HEADER),
            legacy_digest=_header(headers, signatures.RECHARGE_LEGACY_HEADER),
        )
        delivery = None  # Recharge sends no delivery id: the body's hash dedupes
    elif platform == Platform.SHOPIFY:
        topic = _header(headers, "x-shopify-topic", "shopify-topic") or ""
        given = _header(headers, "x-shopify-hmac-sha256", "shopify-hmac-sha256")
        valid = signatures.verify_shopify(body, given, integration.webhook_secret)
        delivery = _header(
            headers, "x-shopify-event-id", "shopify-event-id", "x-shopify-webhook-id"
        )
    else:
        topic = _header(headers, "x-wc-webhook-topic") or ""
        given = _header(headers, "x-wc-webhook-signature")
        valid = signatures.verify_woocommerce(body, given, integration.webhook_secret)
        delivery = _header(headers, "x-wc-webhook-delivery-id", "x-wc-delivery-id")
    if not valid:
        log.warning(
            "rejected %s webhook for shop %s: %s signature (topic %r)",
            platform.value,
            shop_public_id,
            "missing" if not given else "bad",
            topic,
        )
        return Receipt(401, "invalid signature")
    delivery = delivery or hashlib.sha256(body).hexdigest()
    try:
        row = await WebhookDelivery.create(
            shop_id=integration.shop_id,
            platform=platform,
            topic=topic,
            delivery_id=delivery,
            headers={k.lower(): v for k, v in headers.items() if k.lower().startswith("x-")},
            body=body.decode("utf-8", errors="replace"),
        )
    except IntegrityError:
        return Receipt(200, "duplicate delivery ignored")
    return Receipt(202, "accepted", row.id)


class OrderNotYetKnown(Exception):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not received yet")
        self.order_id = order_id


def _lenient(customer: CustomerInput | None) -> CustomerInput | None:
    """Shops hold unchecked phone numbers: drop one we cannot read rather than the order."""
    if customer is None or customer.phone is None:
        return customer
    try:
        normalise_phone(customer.phone, customer.country)
    except DomainError:
        return replace(customer, phone=None)
    return customer


async def _order(shop_id: int, data: OrderInput, refunds: list[RefundInput]) -> str:
    await orders.record_order(shop_id, replace(data, customer=_lenient(data.customer)))
    for refund in refunds:
        await orders.record_refund(shop_id, refund)
    return data.external_id


async def _refund(shop_id: int, refund: RefundInput) -> None:
    try:
        await orders.record_refund(shop_id, refund)
    except NotFound as exc:
        raise OrderNotYetKnown(refund.order_external_id) from exc


async def _dispatch(delivery: WebhookDelivery) -> str | None:
    """Apply one delivery; returns the order id it recorded, if any."""
    payload: Any = load_json(delivery.body)
    shop_id, topic = delivery.shop_id, delivery.topic
    if delivery.platform == Platform.SHOPIFY:
        if topic.startswith("orders/"):
            order_id = await _order(shop_id, shopify.order_to_input(payload), [])
            order = await Order.get(shop_id=shop_id, external_id=order_id)
            shop_customer = payload.get("customer")
            if order.customer_id is not None and isinstance(shop_customer, Mapping):
                customer = await Customer.get(id=order.customer_id)
                await consent_sync.record_shopify_opt_ins(
                    customer,
                    shop_customer,
                    source=ConsentSource.CHECKOUT,
                    delivery=delivery.delivery_id,
                )
            return order_id
        if topic == "refunds/create":
            await _refund(shop_id, shopify.refund_to_input(payload))
            return None
        if topic.startswith("customers/"):
            customer, _ = await sync_customer(shop_id, _lenient(shopify.customer_to_input(payload)))
            await consent_sync.record_shopify_opt_ins(
                customer, payload, source=ConsentSource.API, delivery=delivery.delivery_id
            )
            return None
    elif delivery.platform == Platform.RECHARGE:
        if topic.startswith("subscription/"):
            await subscriptions.apply_subscription(shop_id, topic, payload)
            return None
        if topic.startswith("charge/"):
            return await subscriptions.apply_charge(shop_id, topic, payload)
    elif delivery.platform == Platform.WOOCOMMERCE:
        if topic.startswith("order."):
            order = woocommerce.order_to_input(payload)
            return await _order(shop_id, order, woocommerce.order_refunds(payload))
        if topic.startswith("customer."):
            await sync_customer(shop_id, _lenient(woocommerce.customer_to_input(payload)))
            return None
    raise _Ignored(f"topic {topic!r} is not handled")


class _Ignored(Exception):
    pass


async def process(delivery_id: int) -> DeliveryStatus:
    """Process a stored delivery once; safe to call again (processed ones are skipped)."""
    delivery = await WebhookDelivery.get(id=delivery_id)
    if delivery.status in (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED):
        return delivery.status
    changes: dict[str, Any] = {"attempts": delivery.attempts + 1, "processed_at": clock.now()}
    recorded_order: str | None = None
    try:
        async with in_transaction():
            recorded_order = await _dispatch(delivery)
        changes.update(status=DeliveryStatus.PROCESSED, error=None, waiting_for=None)
    except OrderNotYetKnown as exc:
        changes.update(status=DeliveryStatus.WAITING, error=str(exc), waiting_for=exc.order_id)
    except _Ignored as exc:
        changes.update(status=DeliveryStatus.IGNORED, error=str(exc))
    except (PayloadError, DomainError, ValueError) as exc:
        log.warning("webhook delivery %s failed: %s", delivery.id, exc)
        changes.update(status=DeliveryStatus.FAILED, error=str(exc))
    except Exception as exc:  # unexpected: keep it for replay, and let the worker retry
        changes.update(status=DeliveryStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        await WebhookDelivery.filter(id=delivery.id).update(**changes)
        raise
    await WebhookDelivery.filter(id=delivery.id).update(**changes)
    if recorded_order is not None:
        await _release_waiting(delivery.shop_id, recorded_order)
    return changes["status"]


async def _release_waiting(shop_id: int, order_external_id: str) -> None:
    """Deliveries that waited for this order (a refund before its create) go now."""
    waiting = await WebhookDelivery.filter(
        shop_id=shop_id, status=DeliveryStatus.WAITING, waiting_for=order_external_id
    ).values_list("id", flat=True)
    for delivery_id in waiting:
        await process(delivery_id)


async def replay(shop_id: int | None = None, delivery_ids: list[int] | None = None) -> list[int]:
    """Process FAILED deliveries again (all, one shop's, or the given ones)."""
    query = WebhookDelivery.filter(status=DeliveryStatus.FAILED)
    if shop_id is not None:
        query = query.filter(shop_id=shop_id)
    if delivery_ids:
        query = query.filter(id__in=delivery_ids)
    ids = await query.order_by("id").values_list("id", flat=True)
    for delivery_id in ids:
        await process(delivery_id)
    return list(ids)


async def stalled(older_than: timedelta) -> list[int]:
    """Deliveries to process again: stored but never processed (their task was lost), or
    waiting for an order that may since have come by another path (sync, import)."""
    cutoff = clock.now() - older_than
    return await WebhookDelivery.filter(
        status__in=(DeliveryStatus.RECEIVED, DeliveryStatus.WAITING), received_at__lt=cutoff
    ).values_list("id", flat=True)
