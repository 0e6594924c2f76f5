"""Shopify Order, Refund and Customer objects (REST shape, as webhooks deliver them).

Webhook bodies are the bare resource; REST responses wrap it (`{"order": {...}}`), so
unwrap those before calling. Both the legacy field set and the modern one (with
`*_set` money objects) are read: a plain field is used when present, otherwise its
`*_set.shop_money.amount`. Every amount is in the shop currency (`currency`), never the
presentment currency the shopper may have paid in.

Tax: amounts are taken as priced (see `loyalty.integrations`). With `taxes_included`
true, line prices, `total_line_items_price`, `total_discounts` and shipping already
include tax and `total_tax` is the tax inside them; with it false, tax is on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

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
from loyalty.programme.inputs import CustomerInput, OrderInput, OrderLine, RefundInput
from loyalty.programme.models import OrderStatus

_FINANCIAL_STATUS = {
    "pending": OrderStatus.PENDING,
    "authorized": OrderStatus.PENDING,
    "partially_paid": OrderStatus.PENDING,
    "paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PAID,
    "refunded": OrderStatus.REFUNDED,
    "voided": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
}


def _shop_money(obj: Mapping[str, Any], key: str) -> tuple[Any, str]:
    """The raw amount of `key`, or of `key_set.shop_money` (newer API versions), and its name.

    The amount is None when neither is present.
    """
    if obj.get(key) is not None:
        return obj[key], key
    money_set = obj.get(f"{key}_set")
    if isinstance(money_set, Mapping) and isinstance(money_set.get("shop_money"), Mapping):
        return money_set["shop_money"].get("amount"), f"{key}_set.shop_money.amount"
    return None, key


def _amount(
    obj: Mapping[str, Any], key: str, currency: str, path: str, *, required: bool = False
) -> int:
    """`key` in minor units; an absent optional total (no tax, no discount) is 0."""
    value, field = _shop_money(obj, key)
    if value is None:
        if required:
            raise PayloadError(path + field, "missing")
        return 0
    return minor_units(value, currency, path + field)


def order_to_input(order: Mapping[str, Any]) -> OrderInput:
    """Map an Order to `OrderInput`.

    - subtotal: `total_line_items_price` (goods before order discounts, Shopify's own
      figure), else the sum of line price x quantity;
    - discounts: `total_discounts` (includes shipping discounts, so shipping is the
      undiscounted price and subtotal - discounts + shipping + tax = total_price when
      tax is on top);
    - line `total_discount`: the line's share of those discounts (its
      `discount_allocations`, else `total_discount`), already inside `discounts`;
    - placed_at: `processed_at`, the date Shopify reports on (set to the original date
      for imported orders), else `created_at`;
    - status: cancelled if `cancelled_at` is set, else from `financial_status`, and
      fulfilled once paid and `fulfillment_status` is "fulfilled".
    """
    external_id = identifier(order.get("id"), "id")
    currency = currency_code(order.get("currency"))
    lines = [
        _line(line, currency, f"line_items[{i}].")
        for i, line in enumerate(entries(order, "line_items", "line_items"))
    ]
    if _shop_money(order, "total_line_items_price")[0] is not None:
        subtotal = _amount(order, "total_line_items_price", currency, "")
    elif lines:
        subtotal = sum(line.unit_price * line.quantity for line in lines)
    else:
        raise PayloadError("total_line_items_price", "missing and there are no line_items")
    if _shop_money(order, "total_shipping_price")[0] is not None:
        shipping = _amount(order, "total_shipping_price", currency, "")
    else:
        shipping = sum(
            _amount(line, "price", currency, f"shipping_lines[{i}].")
            for i, line in enumerate(entries(order, "shipping_lines", "shipping_lines"))
        )
    placed_field = "processed_at" if order.get("processed_at") else "created_at"
    return OrderInput(
        external_id=external_id,
        currency=currency,
        subtotal=subtotal,
        status=_status(order),
        discounts=_amount(order, "total_discounts", currency, ""),
        shipping=shipping,
        tax=_amount(order, "total_tax", currency, ""),
        taxes_included=order.get("taxes_included") is True,
        customer=_order_customer(order),
        lines=lines,
        discount_codes=[
            code
            for i, entry in enumerate(entries(order, "discount_codes", "discount_codes"))
            if (code := text(entry.get("code"), f"discount_codes[{i}].code"))
        ],
        placed_at=optional_timestamp(order.get(placed_field), placed_field),
    )


def _status(order: Mapping[str, Any]) -> OrderStatus:
    if order.get("cancelled_at"):
        return OrderStatus.CANCELLED
    financial = order.get("financial_status")
    if not isinstance(financial, str) or financial not in _FINANCIAL_STATUS:
        raise PayloadError("financial_status", f"unknown status {financial!r}")
    status = _FINANCIAL_STATUS[financial]
    if status is OrderStatus.PAID and order.get("fulfillment_status") == "fulfilled":
        return OrderStatus.FULFILLED
    return status


def _line(line: Mapping[str, Any], currency: str, path: str) -> OrderLine:
    title = text(line.get("title"), path + "title") or text(line.get("name"), path + "name")
    if title is None:
        raise PayloadError(path + "title", "missing")
    if line.get("discount_allocations") is not None:
        allocations = entries(line, "discount_allocations", path + "discount_allocations")
        discount = sum(
            _amount(entry, "amount", currency, f"{path}discount_allocations[{i}].")
            for i, entry in enumerate(allocations)
        )
    else:
        discount = _amount(line, "total_discount", currency, path)
    return OrderLine(
        title=title,
        quantity=count(line.get("quantity"), path + "quantity"),
        unit_price=_amount(line, "price", currency, path, required=True),
        product_id=optional_identifier(line.get("product_id"), path + "product_id"),
        variant_id=optional_identifier(line.get("variant_id"), path + "variant_id"),
        sku=text(line.get("sku"), path + "sku"),
        total_discount=discount,
    )


def _order_customer(order: Mapping[str, Any]) -> CustomerInput | None:
    """The order's customer; for a guest checkout, whoever the order's contact details name."""
    email = text(order.get("email"), "email") or text(order.get("contact_email"), "contact_email")
    customer = order.get("customer")
    if isinstance(customer, Mapping):
        mapped = _customer(customer, "customer.")
        return mapped if mapped.email or not email else replace(mapped, email=email)
    phone = text(order.get("phone"), "phone")
    if email is None and phone is None:
        return None
    billing = order.get("billing_address")
    billing = billing if isinstance(billing, Mapping) else {}
    return CustomerInput(
        email=email,
        phone=phone,
        first_name=text(billing.get("first_name"), "billing_address.first_name"),
        last_name=text(billing.get("last_name"), "billing_address.last_name"),
        country=text(billing.get("country_code"), "billing_address.country_code"),
    )


def customer_to_input(customer: Mapping[str, Any]) -> CustomerInput:
    """Map a Customer (customers/create, customers/update) to `CustomerInput`."""
    return _customer(customer, "")


def _customer(customer: Mapping[str, Any], path: str) -> CustomerInput:
    address = customer.get("default_address")
    address = address if isinstance(address, Mapping) else {}
    return CustomerInput(
        external_id=identifier(customer.get("id"), path + "id"),
        email=text(customer.get("email"), path + "email"),
        phone=text(customer.get("phone"), path + "phone"),
        first_name=text(customer.get("first_name"), path + "first_name"),
        last_name=text(customer.get("last_name"), path + "last_name"),
        country=text(address.get("country_code"), path + "default_address.country_code"),
    )


@dataclass(frozen=True)
class MarketingConsent:
    """An explicit opt-in the shop reported, with the evidence to keep beside it."""

    channel: Literal["email", "sms"]
    source: str
    consent_updated_at: datetime | None = None
    opt_in_level: str | None = None
    collected_from: str | None = None


def marketing_consents(customer: Mapping[str, Any]) -> list[MarketingConsent]:
    """Explicit opt-ins in a Customer object (or an order's `customer`), nothing inferred.

    `email_marketing_consent` / `sms_marketing_consent` count only in state
    "subscribed" ("pending" is an unconfirmed double opt-in). The legacy boolean
    `accepts_marketing` counts only when the shop sends no `email_marketing_consent`.
    Opt-outs are not reported here.
    """
    consents = []
    for channel, key in (("email", "email_marketing_consent"), ("sms", "sms_marketing_consent")):
        state = customer.get(key)
        if isinstance(state, Mapping) and state.get("state") == "subscribed":
            consents.append(
                MarketingConsent(
                    channel=channel,
                    source=key,
                    consent_updated_at=optional_timestamp(
                        state.get("consent_updated_at"), f"{key}.consent_updated_at"
                    ),
                    opt_in_level=text(state.get("opt_in_level"), f"{key}.opt_in_level"),
                    collected_from=text(
                        state.get("consent_collected_from"), f"{key}.consent_collected_from"
                    ),
                )
            )
    if "email_marketing_consent" not in customer and customer.get("accepts_marketing") is True:
        consents.append(
            MarketingConsent(
                channel="email",
                source="accepts_marketing",
                consent_updated_at=optional_timestamp(
                    customer.get("accepts_marketing_updated_at"), "accepts_marketing_updated_at"
                ),
                opt_in_level=text(customer.get("marketing_opt_in_level"), "marketing_opt_in_level"),
            )
        )
    return consents


def refund_to_input(refund: Mapping[str, Any]) -> RefundInput:
    """Map a Refund (refunds/create) to `RefundInput`.

    amount: the money that went back, i.e. the sum of `transactions` with kind "refund"
    and status "success" (so 0 if every refund transaction failed or is pending). Only
    when the refund has no transactions at all (items returned, no money moved) is it the
    sum of `refund_line_items[].subtotal_set` (goods after discounts, tax as priced).
    """
    order_id = identifier(refund.get("order_id"), "order_id")
    transactions = entries(refund, "transactions", "transactions")
    if transactions:
        amounts = [
            _money_with_currency(tx, "amount", f"transactions[{i}].")
            for i, tx in enumerate(transactions)
            if tx.get("kind") == "refund" and tx.get("status") == "success"
        ]
    else:
        amounts = [
            _money_with_currency(line, "subtotal", f"refund_line_items[{i}].", set_only=True)
            for i, line in enumerate(entries(refund, "refund_line_items", "refund_line_items"))
        ]
    if len({currency for _, currency in amounts}) > 1:
        where = "transactions" if transactions else "refund_line_items"
        raise PayloadError(where, "refund amounts are in more than one currency")
    return RefundInput(
        order_external_id=order_id,
        amount=sum(amount for amount, _ in amounts),
        external_id=identifier(refund.get("id"), "id"),
    )


def _money_with_currency(
    obj: Mapping[str, Any], key: str, path: str, *, set_only: bool = False
) -> tuple[int, str]:
    """An amount with its own currency: `key_set.shop_money`, else `key` + `currency`."""
    money_set = obj.get(f"{key}_set")
    if isinstance(money_set, Mapping):
        where = f"{path}{key}_set.shop_money"
        shop = section(money_set, "shop_money", where)
        currency = currency_code(shop.get("currency_code"), f"{where}.currency_code")
        return minor_units(shop.get("amount"), currency, f"{where}.amount"), currency
    if set_only:
        raise PayloadError(f"{path}{key}_set", "missing")
    currency = currency_code(obj.get("currency"), path + "currency")
    return minor_units(obj.get(key), currency, path + key), currency


def order_refunds(order: Mapping[str, Any]) -> list[RefundInput]:
    """The refunds embedded in an Order (REST `refunds`), for back-fills and reconciliation."""
    return [refund_to_input(refund) for refund in entries(order, "refunds", "refunds")]
