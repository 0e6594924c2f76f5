"""Recharge (API 2021-11) subscription and charge deliveries.

Recharge wraps each resource under its name (`{"subscription": {...}}`,
`{"charge": {...}}`), and these functions take the delivery as received.

A paid charge also creates an order in the shop (`external_order_id.ecommerce`) that
arrives through the shop's own webhooks; `ChargeRecord.shop_order_id` is there so the
programme can tell the two apart and not award points twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from loyalty.integrations.money import currency_code, minor_units
from loyalty.integrations.payloads import (
    PayloadError,
    count,
    entries,
    identifier,
    optional_identifier,
    optional_timestamp,
    section,
    text,
)
from loyalty.programme.inputs import CustomerInput, OrderInput, OrderLine
from loyalty.programme.models import OrderStatus

# An errored charge is retried by Recharge (`retry_date`), so it is still pending; a
# skipped one will never be taken.
_CHARGE_STATUS = {
    "queued": OrderStatus.PENDING,
    "error": OrderStatus.PENDING,
    "success": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PAID,
    "refunded": OrderStatus.REFUNDED,
    "skipped": OrderStatus.CANCELLED,
}


@dataclass(frozen=True)
class SubscriptionEvent:
    """A subscription as Recharge reports it; `price` is per unit, in minor units."""

    subscription_id: str
    recharge_customer_id: str | None
    status: str
    product_title: str
    quantity: int
    price: int
    currency: str
    next_charge_on: date | None
    external_product_id: str | None = None
    external_variant_id: str | None = None
    customer: CustomerInput | None = None


@dataclass(frozen=True)
class ChargeRecord:
    """A Recharge charge as an order, plus the ids needed to avoid counting it twice."""

    charge_id: str
    shop_order_id: str | None
    recharge_customer_id: str | None
    order: OrderInput


def subscription_event(delivery: Mapping[str, Any]) -> SubscriptionEvent:
    """Map a subscription/* delivery.

    The subscription names only Recharge's own customer id; the shop's customer id and
    email are filled in when the delivery also carries a `customer` object (requested
    with `include`), else `customer` is None.
    """
    sub = section(delivery, "subscription", "subscription")
    path = "subscription."
    currency = currency_code(sub.get("presentment_currency"), path + "presentment_currency")
    title = text(sub.get("product_title"), path + "product_title")
    if title is None:
        raise PayloadError(path + "product_title", "missing")
    status = text(sub.get("status"), path + "status")
    if status is None:
        raise PayloadError(path + "status", "missing")
    customer = delivery.get("customer")
    return SubscriptionEvent(
        subscription_id=identifier(sub.get("id"), path + "id"),
        recharge_customer_id=optional_identifier(sub.get("customer_id"), path + "customer_id"),
        status=status.lower(),
        product_title=title,
        quantity=count(sub.get("quantity"), path + "quantity"),
        price=minor_units(sub.get("price"), currency, path + "price"),
        currency=currency,
        next_charge_on=_date(
            sub.get("next_charge_scheduled_at"), path + "next_charge_scheduled_at"
        ),
        external_product_id=_ecommerce_id(sub, "external_product_id", path),
        external_variant_id=_ecommerce_id(sub, "external_variant_id", path),
        customer=_customer(customer, "customer.") if isinstance(customer, Mapping) else None,
    )


def charge_record(delivery: Mapping[str, Any]) -> ChargeRecord:
    """Map a charge/* delivery (charge/paid above all) to a `ChargeRecord`.

    The order's external id is the charge id. subtotal is `total_line_items_price`
    (before discounts), else the sum of line `unit_price` x `quantity`; discounts
    `total_discounts`; shipping the sum of `shipping_lines[].price`; tax `total_tax`,
    as priced per `taxes_included`; placed_at `processed_at`, else `created_at`.
    """
    charge = section(delivery, "charge", "charge")
    path = "charge."
    charge_id = identifier(charge.get("id"), path + "id")
    currency = currency_code(charge.get("currency"), path + "currency")
    status = charge.get("status")
    if not isinstance(status, str) or status.lower() not in _CHARGE_STATUS:
        raise PayloadError(path + "status", f"unknown status {status!r}")

    def money(obj: Mapping[str, Any], key: str, where: str) -> int:
        value = obj.get(key)
        return 0 if value in (None, "") else minor_units(value, currency, where + key)

    lines = [
        _charge_line(line, currency, f"{path}line_items[{i}].")
        for i, line in enumerate(entries(charge, "line_items", path + "line_items"))
    ]
    if charge.get("total_line_items_price") not in (None, ""):
        subtotal = money(charge, "total_line_items_price", path)
    elif lines:
        subtotal = sum(line.unit_price * line.quantity for line in lines)
    else:
        raise PayloadError(path + "total_line_items_price", "missing and there are no line_items")
    placed_field = "processed_at" if charge.get("processed_at") else "created_at"
    customer = charge.get("customer")
    order = OrderInput(
        external_id=charge_id,
        currency=currency,
        subtotal=subtotal,
        status=_CHARGE_STATUS[status.lower()],
        discounts=money(charge, "total_discounts", path),
        shipping=sum(
            money(line, "price", f"{path}shipping_lines[{i}].")
            for i, line in enumerate(entries(charge, "shipping_lines", path + "shipping_lines"))
        ),
        tax=money(charge, "total_tax", path),
        taxes_included=charge.get("taxes_included") is True,
        customer=_customer(customer, path + "customer.") if isinstance(customer, Mapping) else None,
        lines=lines,
        discount_codes=[
            code
            for i, entry in enumerate(entries(charge, "discounts", path + "discounts"))
            if (code := text(entry.get("code"), f"{path}discounts[{i}].code"))
        ],
        placed_at=optional_timestamp(charge.get(placed_field), path + placed_field),
    )
    return ChargeRecord(
        charge_id=charge_id,
        shop_order_id=_ecommerce_id(charge, "external_order_id", path),
        recharge_customer_id=optional_identifier(
            customer.get("id") if isinstance(customer, Mapping) else None, path + "customer.id"
        ),
        order=order,
    )


def _charge_line(line: Mapping[str, Any], currency: str, path: str) -> OrderLine:
    title = text(line.get("title"), path + "title")
    if title is None:
        raise PayloadError(path + "title", "missing")
    return OrderLine(
        title=title,
        quantity=count(line.get("quantity"), path + "quantity"),
        unit_price=minor_units(line.get("unit_price"), currency, path + "unit_price"),
        product_id=_ecommerce_id(line, "external_product_id", path),
        variant_id=_ecommerce_id(line, "external_variant_id", path),
        sku=text(line.get("sku"), path + "sku"),
    )


def _customer(customer: Mapping[str, Any], path: str) -> CustomerInput | None:
    """The shopper by the shop's customer id (so profiles join up with shop orders) and email."""
    external_id = _ecommerce_id(customer, "external_customer_id", path)
    email = text(customer.get("email"), path + "email")
    if external_id is None and email is None:
        return None
    return CustomerInput(
        external_id=external_id,
        email=email,
        first_name=text(customer.get("first_name"), path + "first_name"),
        last_name=text(customer.get("last_name"), path + "last_name"),
        phone=text(customer.get("phone"), path + "phone"),
    )


def _ecommerce_id(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """Recharge nests shop-side ids as `{"ecommerce": "..."}`."""
    nested = obj.get(key)
    if not isinstance(nested, Mapping):
        return None
    return optional_identifier(nested.get("ecommerce"), f"{path}{key}.ecommerce")


def _date(value: Any, path: str) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(path, f"expected an ISO date string, got {type(value).__name__}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PayloadError(path, f"not an ISO date: {value!r}") from None
