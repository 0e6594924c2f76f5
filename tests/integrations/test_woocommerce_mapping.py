"""WooCommerce mappers against the REST docs' order; pence values worked out by hand."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from loyalty.integrations import woocommerce
from loyalty.integrations.payloads import PayloadError, load_json
from loyalty.programme.inputs import CustomerInput, OrderLine, RefundInput
from loyalty.programme.models import OrderStatus

Load = Callable[[str], dict[str, Any]]
ORDER = "woocommerce_order.json"


def test_order(payload: Load) -> None:
    order = woocommerce.order_to_input(payload(ORDER))

    assert (order.external_id, order.currency) == ("727", "USD")
    assert order.subtotal == 600 + 1200  # line subtotals "6.00" + "12.00"
    assert (order.discounts, order.shipping, order.tax) == (0, 1000, 135)
    assert order.subtotal - order.discounts + order.shipping + order.tax == 2935  # total
    assert order.status is OrderStatus.PAID  # processing
    assert order.placed_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)  # date_created_gmt
    assert order.discount_codes == []
    assert order.lines == [
        OrderLine(title="Woo Single #1", quantity=2, unit_price=300, product_id="93"),
        OrderLine(
            title="Ship Your Idea \u2013 Color: Black, Size: M Test",  # from &ndash;
            quantity=1,
            unit_price=1200,
            product_id="22",
            variant_id="23",
            sku="Bar3",
        ),
    ]


def test_guest_order_is_identified_by_billing_email(payload: Load) -> None:
    assert woocommerce.order_to_input(payload(ORDER)).customer == CustomerInput(
        external_id=None,
        email="john.doe@example.com",
        phone="(555) 555-5555",
        first_name="John",
        last_name="Doe",
        country="US",
    )


def test_registered_customer(payload: Load) -> None:
    data = payload(ORDER)
    data["customer_id"] = 42
    customer = woocommerce.order_to_input(data).customer
    assert customer is not None
    assert (customer.external_id, customer.email) == ("42", "john.doe@example.com")


def test_guest_without_billing_details_has_no_customer(payload: Load) -> None:
    data = payload(ORDER)
    data["billing"] = {"email": "", "phone": ""}
    assert woocommerce.order_to_input(data).customer is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", OrderStatus.PENDING),
        ("on-hold", OrderStatus.PENDING),
        ("processing", OrderStatus.PAID),
        ("completed", OrderStatus.FULFILLED),
        ("cancelled", OrderStatus.CANCELLED),
        ("failed", OrderStatus.CANCELLED),
        ("refunded", OrderStatus.REFUNDED),
    ],
)
def test_status(payload: Load, status: str, expected: OrderStatus) -> None:
    data = payload(ORDER)
    data["status"] = status
    assert woocommerce.order_to_input(data).status is expected


def test_coupons(payload: Load) -> None:
    data = payload(ORDER)
    data["coupon_lines"] = [{"id": 320, "code": "spring10", "discount": "1.80"}]
    data["discount_total"] = "1.80"
    data["line_items"][0]["total"] = "5.40"
    data["line_items"][1]["total"] = "10.80"
    order = woocommerce.order_to_input(data)
    assert order.discount_codes == ["spring10"]
    assert order.discounts == 180
    assert order.subtotal == 1800  # before coupons
    assert [line.total_discount for line in order.lines] == [60, 120]


def test_prices_including_tax_add_the_tax_back(payload: Load) -> None:
    data = payload(ORDER)
    data.update(prices_include_tax=True, discount_total="1.00", discount_tax="0.08")
    data["shipping_tax"] = "0.75"
    order = woocommerce.order_to_input(data)
    assert order.subtotal == (600 + 45) + (1200 + 90)
    assert (order.discounts, order.shipping, order.tax) == (108, 1075, 135)
    # 6.45 / 2 = 3.225 per unit, rounded half up.
    assert [line.unit_price for line in order.lines] == [323, 1290]
    assert [line.total_discount for line in order.lines] == [0, 0]


def test_refunds(payload: Load) -> None:
    data = payload(ORDER)
    assert woocommerce.order_refunds(data) == []
    data["refunds"] = [
        {"id": 726, "reason": "", "total": "-10.00"},
        {"id": 730, "reason": "Damaged", "total": "-2.35"},
    ]
    assert woocommerce.order_refunds(data) == [
        RefundInput(order_external_id="727", amount=1000, external_id="726"),
        RefundInput(order_external_id="727", amount=235, external_id="730"),
    ]


def test_ids_above_2_pow_53_stay_exact(raw: Callable[[str], bytes]) -> None:
    body = raw(ORDER).replace(b'"id": 727', b'"id": 820982911946154508', 1)
    body = body.replace(b'"customer_id": 0', b'"customer_id": 9007199254740993')
    order = woocommerce.order_to_input(load_json(body))
    assert order.external_id == "820982911946154508"
    assert order.customer is not None
    assert order.customer.external_id == "9007199254740993"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("id"), "id"),
        (lambda d: d.update(currency="ABC"), "currency"),
        (lambda d: d.update(status="shipped"), "status"),
        (lambda d: d.update(total_tax="1.35 USD"), "total_tax"),
        (lambda d: d.update(shipping_total="ten"), "shipping_total"),
        (lambda d: d["line_items"][0].update(subtotal="six"), "line_items[0].subtotal"),
        (lambda d: d["line_items"][1].pop("subtotal"), "line_items[1].subtotal"),
        (lambda d: d["line_items"][1].update(quantity=-1), "line_items[1].quantity"),
        (lambda d: d["line_items"][0].update(name=""), "line_items[0].name"),
        (lambda d: d.update(date_created_gmt="22/03/2017"), "date_created_gmt"),
    ],
)
def test_malformed_orders_name_the_field(payload: Load, edit, field: str) -> None:
    data = payload(ORDER)
    edit(data)
    with pytest.raises(PayloadError) as caught:
        woocommerce.order_to_input(data)
    assert caught.value.field == field


def test_malformed_refund_names_the_field(payload: Load) -> None:
    data = payload(ORDER)
    data["refunds"] = [{"id": 726, "total": None}]
    with pytest.raises(PayloadError) as caught:
        woocommerce.order_refunds(data)
    assert caught.value.field == "refunds[0].total"


def test_customer_object() -> None:
    # Field names per the REST v3 docs' "Retrieve a customer" example.
    customer = {
        "id": 25,
        "email": "john.doe@example.com",
        "first_name": "John",
        "last_name": "Doe",
        "role": "customer",
        "username": "john.doe",
        "billing": {"country": "GB", "email": "john.doe@example.com", "phone": "07700 900123"},
        "is_paying_customer": False,
    }
    assert woocommerce.customer_to_input(customer) == CustomerInput(
        external_id="25",
        email="john.doe@example.com",
        phone="07700 900123",
        first_name="John",
        last_name="Doe",
        country="GB",
    )
    del customer["id"]
    with pytest.raises(PayloadError, match="id: missing"):
        woocommerce.customer_to_input(customer)
