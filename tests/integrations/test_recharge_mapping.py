"""Recharge mappers: the real subscription sample, and a charge built to the 2021-11 shape."""

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from loyalty.integrations import recharge
from loyalty.integrations.payloads import PayloadError, load_json
from loyalty.programme.inputs import CustomerInput, OrderLine
from loyalty.programme.models import OrderStatus

Load = Callable[[str], dict[str, Any]]
SUBSCRIPTION = "recharge_subscription.json"

# No real charge/paid body was found (see SOURCES.md), so this one is written here from the
# 2021-11 Charge fields documented there and in Recharge's SDK types; values are invented.
CHARGE: dict[str, Any] = {
    "charge": {
        "id": 580355441,
        "address_id": 22222222,
        "currency": "GBP",
        "customer": {
            "id": 333333333,
            "email": "sam@example.co.uk",
            "external_customer_id": {"ecommerce": "6400000000001"},
            "hash": "abc123",
        },
        "discounts": [{"id": 91, "code": "SUBSAVE10", "value": 10.0, "value_type": "percentage"}],
        "external_order_id": {"ecommerce": "5100000000777"},
        "line_items": [
            {
                "purchase_item_id": 123123123,
                "purchase_item_type": "subscription",
                "external_product_id": {"ecommerce": "44444444444"},
                "external_variant_id": {"ecommerce": "555555555555"},
                "quantity": 2,
                "sku": "BEANS-1KG",
                "title": "House espresso beans 1kg",
                "unit_price": "18.50",
                "total_price": "37.00",
                "unit_price_includes_tax": True,
            },
            {
                "purchase_item_id": 123123124,
                "purchase_item_type": "onetime",
                "external_product_id": {"ecommerce": "44444444445"},
                "external_variant_id": {"ecommerce": "555555555556"},
                "quantity": 1,
                "sku": None,
                "title": "Burr grinder",
                "unit_price": "45.00",
                "total_price": "45.00",
            },
        ],
        "processed_at": "2026-02-14T09:12:45+00:00",
        "created_at": "2026-02-01T00:00:00+00:00",
        "shipping_lines": [{"code": "Standard", "price": "3.95", "title": "Standard"}],
        "status": "success",
        "subtotal_price": "73.80",
        "taxes_included": True,
        "total_discounts": "8.20",
        "total_line_items_price": "82.00",
        "total_price": "77.75",
        "total_refunds": "0.00",
        "total_tax": "12.96",
        "type": "recurring",
    }
}


def charge() -> dict[str, Any]:
    return copy.deepcopy(CHARGE)


def test_subscription(payload: Load) -> None:
    assert recharge.subscription_event(payload(SUBSCRIPTION)) == recharge.SubscriptionEvent(
        subscription_id="123123123",
        recharge_customer_id="333333333",
        status="active",
        product_title="Vuffeli Prøvepakke",
        quantity=3,
        price=4900,  # "49.00" DKK
        currency="DKK",
        next_charge_on=date(2022, 12, 17),
        external_product_id="44444444444",
        external_variant_id="555555555555",
    )


def test_subscription_with_included_customer(payload: Load) -> None:
    delivery = payload(SUBSCRIPTION)
    delivery["customer"] = {
        "id": 333333333,
        "email": "kunde@example.dk",
        "external_customer_id": {"ecommerce": "6400000000001"},
        "first_name": "Karen",
        "last_name": "Jensen",
    }
    assert recharge.subscription_event(delivery).customer == CustomerInput(
        external_id="6400000000001",
        email="kunde@example.dk",
        first_name="Karen",
        last_name="Jensen",
    )


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("subscription"), "subscription"),
        (lambda d: d["subscription"].pop("id"), "subscription.id"),
        (lambda d: d["subscription"].update(price="49,00"), "subscription.price"),
        (
            lambda d: d["subscription"].update(presentment_currency=None),
            "subscription.presentment_currency",
        ),
        (
            lambda d: d["subscription"].update(presentment_currency="QQQ"),
            "subscription.presentment_currency",
        ),
        (lambda d: d["subscription"].update(product_title=""), "subscription.product_title"),
        (
            lambda d: d["subscription"].update(next_charge_scheduled_at="17/12/2022"),
            "subscription.next_charge_scheduled_at",
        ),
        (lambda d: d["subscription"].update(quantity=None), "subscription.quantity"),
    ],
)
def test_malformed_subscription_names_the_field(payload: Load, edit, field: str) -> None:
    delivery = payload(SUBSCRIPTION)
    edit(delivery)
    with pytest.raises(PayloadError) as caught:
        recharge.subscription_event(delivery)
    assert caught.value.field == field


def test_charge() -> None:
    record = recharge.charge_record(charge())

    assert record.charge_id == "580355441"
    assert record.shop_order_id == "5100000000777"
    assert record.recharge_customer_id == "333333333"
    order = record.order
    assert (order.external_id, order.currency) == ("580355441", "GBP")
    assert order.subtotal == 8200
    # taxes_included: the VAT (12.96) is inside the prices, so the total is not + tax.
    assert (order.discounts, order.shipping, order.tax) == (820, 395, 1296)
    assert order.subtotal - order.discounts + order.shipping == 7775  # total_price
    assert order.status is OrderStatus.PAID
    assert order.placed_at == datetime(2026, 2, 14, 9, 12, 45, tzinfo=UTC)
    assert order.discount_codes == ["SUBSAVE10"]
    assert order.customer == CustomerInput(external_id="6400000000001", email="sam@example.co.uk")
    assert order.lines == [
        OrderLine(
            title="House espresso beans 1kg",
            quantity=2,
            unit_price=1850,
            product_id="44444444444",
            variant_id="555555555555",
            sku="BEANS-1KG",
        ),
        OrderLine(
            title="Burr grinder",
            quantity=1,
            unit_price=4500,
            product_id="44444444445",
            variant_id="555555555556",
        ),
    ]


def test_charge_subtotal_falls_back_to_lines() -> None:
    delivery = charge()
    del delivery["charge"]["total_line_items_price"]
    assert recharge.charge_record(delivery).order.subtotal == 2 * 1850 + 4500
    del delivery["charge"]["line_items"]
    with pytest.raises(PayloadError) as caught:
        recharge.charge_record(delivery)
    assert caught.value.field == "charge.total_line_items_price"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("success", OrderStatus.PAID),
        ("SUCCESS", OrderStatus.PAID),
        ("queued", OrderStatus.PENDING),
        ("error", OrderStatus.PENDING),
        ("partially_refunded", OrderStatus.PAID),
        ("refunded", OrderStatus.REFUNDED),
        ("skipped", OrderStatus.CANCELLED),
    ],
)
def test_charge_status(status: str, expected: OrderStatus) -> None:
    delivery = charge()
    delivery["charge"]["status"] = status
    assert recharge.charge_record(delivery).order.status is expected


def test_charge_ids_above_2_pow_53_stay_exact() -> None:
    body = (
        '{"charge": {"id": 820982911946154508, "currency": "GBP", "status": "success",'
        ' "total_line_items_price": "10.00", "customer": {"id": 9007199254740993,'
        ' "email": "a@example.com"}}}'
    )
    record = recharge.charge_record(load_json(body))
    assert record.charge_id == record.order.external_id == "820982911946154508"
    assert record.recharge_customer_id == "9007199254740993"
    assert record.shop_order_id is None
    assert record.order.customer == CustomerInput(email="a@example.com")


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda c: c.pop("id"), "charge.id"),
        (lambda c: c.update(currency="GBX"), "charge.currency"),
        (lambda c: c.update(status="mystery"), "charge.status"),
        (lambda c: c.update(total_tax="twelve"), "charge.total_tax"),
        (lambda c: c["line_items"][1].update(unit_price=None), "charge.line_items[1].unit_price"),
        (lambda c: c["shipping_lines"][0].update(price="3.95p"), "charge.shipping_lines[0].price"),
        (lambda c: c.update(processed_at="2026-02-14 09:12:45"), "charge.processed_at"),
    ],
)
def test_malformed_charge_names_the_field(edit, field: str) -> None:
    delivery = charge()
    edit(delivery["charge"])
    with pytest.raises(PayloadError) as caught:
        recharge.charge_record(delivery)
    assert caught.value.field == field
