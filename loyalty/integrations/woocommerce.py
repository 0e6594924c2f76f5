"""WooCommerce REST v3 Order and Customer objects (webhook bodies have the same shape).

Refunds have no topic of their own: they arrive as `order.updated` with the order's
`refunds` array, hence `order_refunds`.

Tax: WooCommerce stores line, discount and shipping amounts net of tax with the tax
beside them, whatever the shop's setting. To take amounts as priced (see
`loyalty.integrations`), an order with `prices_include_tax` true has each amount's tax
added back (`subtotal_tax`, `discount_tax`, `shipping_tax`); `tax` is `total_tax`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from loyalty.integrations.money import currency_code, minor_units
from loyalty.integrations.payloads import (
    PayloadError,
    count,
    entries,
    identifier,
    optional_identifier,
    optional_timestamp,
    text,
)
from loyalty.programme.inputs import CustomerInput, OrderInput, OrderLine, RefundInput
from loyalty.programme.models import OrderStatus

_STATUS = {
    "pending": OrderStatus.PENDING,
    "on-hold": OrderStatus.PENDING,
    "checkout-draft": OrderStatus.PENDING,
    "processing": OrderStatus.PAID,
    "completed": OrderStatus.FULFILLED,
    "cancelled": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,
    "refunded": OrderStatus.REFUNDED,
}


def order_to_input(order: Mapping[str, Any]) -> OrderInput:
    """Map an Order to `OrderInput`.

    subtotal is the sum of line `subtotal` (before coupons); discounts `discount_total`;
    shipping `shipping_total`; a line's `total_discount` is its `subtotal - total`, its
    share of the coupons. `fee_lines` are not mapped. Statuses added by plugins are
    refused so the delivery is kept until they are mapped.
    """
    external_id = identifier(order.get("id"), "id")
    currency = currency_code(order.get("currency"))
    status = order.get("status")
    if not isinstance(status, str) or status not in _STATUS:
        raise PayloadError("status", f"unknown status {status!r}")
    gross = order.get("prices_include_tax") is True

    def as_priced(key: str, tax_key: str) -> int:
        value = _optional(order, key, currency, "")
        return value + _optional(order, tax_key, currency, "") if gross else value

    priced = [
        _line(line, currency, gross, f"line_items[{i}].")
        for i, line in enumerate(entries(order, "line_items", "line_items"))
    ]
    return OrderInput(
        external_id=external_id,
        currency=currency,
        subtotal=sum(line_subtotal for _, line_subtotal in priced),
        status=_STATUS[status],
        discounts=as_priced("discount_total", "discount_tax"),
        shipping=as_priced("shipping_total", "shipping_tax"),
        tax=_optional(order, "total_tax", currency, ""),
        taxes_included=gross,
        customer=_order_customer(order),
        lines=[line for line, _ in priced],
        discount_codes=[
            code
            for i, coupon in enumerate(entries(order, "coupon_lines", "coupon_lines"))
            if (code := text(coupon.get("code"), f"coupon_lines[{i}].code"))
        ],
        placed_at=optional_timestamp(
            order.get("date_created_gmt"), "date_created_gmt", naive_is_utc=True
        ),
    )


def _optional(obj: Mapping[str, Any], key: str, currency: str, path: str) -> int:
    value = obj.get(key)
    return 0 if value in (None, "") else minor_units(value, currency, path + key)


def _line(line: Mapping[str, Any], currency: str, gross: bool, path: str) -> tuple[OrderLine, int]:
    """One line and its exact subtotal; unit price is subtotal / quantity (`price` is a float)."""
    title = text(line.get("name"), path + "name")
    if title is None:
        raise PayloadError(path + "name", "missing")
    quantity = count(line.get("quantity"), path + "quantity")
    if line.get("subtotal") in (None, ""):
        raise PayloadError(path + "subtotal", "missing")
    subtotal = _optional(line, "subtotal", currency, path)
    total = _optional(line, "total", currency, path) if "total" in line else subtotal
    if gross:
        subtotal += _optional(line, "subtotal_tax", currency, path)
        total += _optional(line, "total_tax", currency, path)
    mapped = OrderLine(
        title=html.unescape(title),
        quantity=quantity,
        unit_price=_divide(subtotal, quantity),
        product_id=_woo_id(line.get("product_id"), path + "product_id"),
        variant_id=_woo_id(line.get("variation_id"), path + "variation_id"),
        sku=text(line.get("sku"), path + "sku"),
        total_discount=subtotal - total,
    )
    return mapped, subtotal


def _divide(total: int, quantity: int) -> int:
    """Per-unit share of a line total, rounded half up (WooCommerce's own rounding).

    A zero-quantity line keeps its whole total as the unit price rather than dividing by 0.
    """
    if quantity == 0:
        return total
    return int((Decimal(total) / quantity).to_integral_value(rounding=ROUND_HALF_UP))


def _woo_id(value: Any, path: str) -> str | None:
    """WooCommerce writes 0 for "none" (guest customer, no variation, deleted product)."""
    return None if value in (0, "0") else optional_identifier(value, path)


def _order_customer(order: Mapping[str, Any]) -> CustomerInput | None:
    """The account holder, or for a guest (`customer_id` 0) whoever the billing details name."""
    billing = order.get("billing")
    billing = billing if isinstance(billing, Mapping) else {}
    external_id = _woo_id(order.get("customer_id"), "customer_id")
    email = text(billing.get("email"), "billing.email")
    phone = text(billing.get("phone"), "billing.phone")
    if external_id is None and email is None and phone is None:
        return None
    return CustomerInput(
        external_id=external_id,
        email=email,
        phone=phone,
        first_name=text(billing.get("first_name"), "billing.first_name"),
        last_name=text(billing.get("last_name"), "billing.last_name"),
        country=text(billing.get("country"), "billing.country"),
    )


def order_refunds(order: Mapping[str, Any]) -> list[RefundInput]:
    """The order's refunds; WooCommerce lists each `total` as a negative amount."""
    order_id = identifier(order.get("id"), "id")
    currency = currency_code(order.get("currency"))
    return [
        RefundInput(
            order_external_id=order_id,
            amount=abs(minor_units(refund.get("total"), currency, f"refunds[{i}].total")),
            external_id=identifier(refund.get("id"), f"refunds[{i}].id"),
        )
        for i, refund in enumerate(entries(order, "refunds", "refunds"))
    ]


def customer_to_input(customer: Mapping[str, Any]) -> CustomerInput:
    """Map a Customer (customer.created / customer.updated) to `CustomerInput`."""
    billing = customer.get("billing")
    billing = billing if isinstance(billing, Mapping) else {}
    return CustomerInput(
        external_id=identifier(customer.get("id"), "id"),
        email=text(customer.get("email"), "email") or text(billing.get("email"), "billing.email"),
        phone=text(billing.get("phone"), "billing.phone"),
        first_name=text(customer.get("first_name"), "first_name"),
        last_name=text(customer.get("last_name"), "last_name"),
        country=text(billing.get("country"), "billing.country"),
    )
