"""Shopify mappers against the real payloads; pence values worked out by hand from the files."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from loyalty.integrations import shopify
from loyalty.integrations.payloads import PayloadError, load_json
from loyalty.programme.inputs import CustomerInput, OrderLine, RefundInput
from loyalty.programme.models import OrderStatus

Load = Callable[[str], dict[str, Any]]
LEGACY = "shopify_order_webhook_body.json"
MODERN = "shopify_order_modern.json"
BIG_ID = 820982911946154508  # from Shopify's doc samples; above 2**53


def test_legacy_order(payload: Load) -> None:
    order = shopify.order_to_input(payload(LEGACY))

    assert order.external_id == "450789469"
    assert order.currency == "USD"
    # total_line_items_price "398.00" (the sample's three 199.00 lines would make 597.00;
    # SOURCES.md calls the sample inconsistent; Shopify's own total is what we take).
    assert order.subtotal == 39800
    assert (order.discounts, order.shipping, order.tax) == (0, 0, 1194)
    assert order.subtotal - order.discounts + order.shipping + order.tax == 40994  # total_price
    assert order.status is OrderStatus.PENDING  # financial_status "authorized"
    assert order.placed_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert order.discount_codes == ["TENOFF"]
    assert order.customer == CustomerInput(
        external_id="207119551",
        email="bob.norman@hostmail.com",
        first_name="Bob",
        last_name="Norman",
        country="US",
    )
    assert order.lines[0] == OrderLine(
        title="IPod Nano - 8gb",
        quantity=1,
        unit_price=19900,
        product_id="632910392",
        variant_id="39072856",
        sku="IPOD2008GREEN",
        total_discount=0,
    )
    assert [line.variant_id for line in order.lines] == ["39072856", "49148385", "457924702"]


def test_rest_wrapper_holds_the_same_order(payload: Load) -> None:
    assert shopify.order_to_input(payload("shopify_order.json")["order"]) == (
        shopify.order_to_input(payload(LEGACY))
    )


def test_modern_order(payload: Load) -> None:
    order = shopify.order_to_input(payload(MODERN))

    assert (order.external_id, order.currency) == ("450789469", "USD")
    assert order.subtotal == 59700
    assert (order.discounts, order.shipping, order.tax) == (1000, 0, 1194)
    assert order.subtotal - order.discounts + order.shipping + order.tax == 59894  # total_price
    assert order.status is OrderStatus.PAID  # partially_refunded: the refund arrives on its own
    assert order.placed_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)  # processed_at
    assert order.customer == CustomerInput(
        external_id="207119551",
        email="bob.norman@mail.example.com",
        phone="+16136120707",
        first_name="Bob",
        last_name="Norman",
        country="US",
    )
    # TENOFF's 10.00 allocated across the lines; already inside `discounts`.
    assert [line.total_discount for line in order.lines] == [334, 333, 333]
    assert sum(line.unit_price * line.quantity for line in order.lines) == order.subtotal


def test_modern_order_read_from_money_sets_alone(payload: Load) -> None:
    data = payload(MODERN)
    for key in ("total_line_items_price", "total_discounts", "total_tax"):
        del data[key]
    for line in data["line_items"]:
        del line["price"]
    order = shopify.order_to_input(data)
    assert (order.subtotal, order.discounts, order.tax) == (59700, 1000, 1194)
    assert [line.unit_price for line in order.lines] == [19900, 19900, 19900]


def test_subtotal_and_shipping_fall_back_to_lines(payload: Load) -> None:
    data = payload(MODERN)
    del data["total_line_items_price"], data["total_line_items_price_set"]
    del data["total_shipping_price_set"]
    data["shipping_lines"][0]["price"] = "4.99"
    data["shipping_lines"].append({"price": "1.01", "title": "Gift wrap courier"})
    order = shopify.order_to_input(data)
    assert order.subtotal == 3 * 19900
    assert order.shipping == 499 + 101


def test_taxes_included_amounts_stay_as_priced(payload: Load) -> None:
    data = payload(MODERN)
    data["taxes_included"] = True
    order = shopify.order_to_input(data)
    assert (order.subtotal, order.discounts, order.shipping, order.tax) == (59700, 1000, 0, 1194)


@pytest.mark.parametrize(
    ("financial", "fulfillment", "cancelled_at", "expected"),
    [
        ("pending", None, None, OrderStatus.PENDING),
        ("authorized", None, None, OrderStatus.PENDING),
        ("partially_paid", None, None, OrderStatus.PENDING),
        ("paid", None, None, OrderStatus.PAID),
        ("paid", "partial", None, OrderStatus.PAID),
        ("paid", "fulfilled", None, OrderStatus.FULFILLED),
        ("partially_refunded", "fulfilled", None, OrderStatus.FULFILLED),
        ("authorized", "fulfilled", None, OrderStatus.PENDING),
        ("refunded", "fulfilled", None, OrderStatus.REFUNDED),
        ("voided", None, None, OrderStatus.CANCELLED),
        ("refunded", None, "2008-01-11T09:00:00-05:00", OrderStatus.CANCELLED),
        ("paid", None, "2008-01-11T09:00:00-05:00", OrderStatus.CANCELLED),
    ],
)
def test_status(
    payload: Load, financial: str, fulfillment: str | None, cancelled_at: str | None, expected
) -> None:
    data = payload(MODERN)
    data.update(
        financial_status=financial, fulfillment_status=fulfillment, cancelled_at=cancelled_at
    )
    assert shopify.order_to_input(data).status is expected


@pytest.mark.parametrize("customer", ["absent", None])
def test_guest_checkout_uses_the_order_contact(payload: Load, customer: object) -> None:
    data = payload(MODERN)
    if customer == "absent":
        del data["customer"]
    else:
        data["customer"] = None
    assert shopify.order_to_input(data).customer == CustomerInput(
        external_id=None,
        email="bob.norman@mail.example.com",
        phone="+557734881234",
        first_name="Bob",
        last_name="Norman",
        country="US",
    )


def test_guest_without_contact_details_has_no_customer(payload: Load) -> None:
    data = payload(LEGACY)
    del data["customer"], data["email"]
    assert shopify.order_to_input(data).customer is None


def test_order_email_fills_a_customer_without_one(payload: Load) -> None:
    data = payload(LEGACY)
    data["customer"]["email"] = None
    customer = shopify.order_to_input(data).customer
    assert customer is not None
    assert (customer.external_id, customer.email) == ("207119551", "bob.norman@hostmail.com")


def test_ids_above_2_pow_53_stay_exact(raw: Callable[[str], bytes]) -> None:
    body = raw(MODERN).replace(b'"id": 450789469', f'"id": {BIG_ID}'.encode(), 1)
    body = body.replace(b'"product_id": 632910392', f'"product_id": {BIG_ID + 1}'.encode())
    order = shopify.order_to_input(load_json(body))
    assert order.external_id == "820982911946154508"
    assert {line.product_id for line in order.lines} == {"820982911946154509"}


def test_float_id_is_refused_as_possibly_rounded(payload: Load) -> None:
    data = payload(MODERN)
    data["id"] = float(BIG_ID)
    with pytest.raises(PayloadError) as caught:
        shopify.order_to_input(data)
    assert caught.value.field == "id"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("id"), "id"),
        (lambda d: d.update(id=None), "id"),
        (lambda d: d.update(currency="XYZ"), "currency"),
        (lambda d: d.pop("currency"), "currency"),
        (lambda d: d.update(total_tax="eleven"), "total_tax"),
        (lambda d: d.update(total_discounts="10,00"), "total_discounts"),
        (lambda d: d["line_items"][1].update(price="1 99"), "line_items[1].price"),
        (lambda d: d["line_items"][2].pop("price"), "line_items[2].price"),
        (lambda d: d["line_items"][0].update(quantity="1"), "line_items[0].quantity"),
        (lambda d: d["line_items"][0].update(title=None, name=None), "line_items[0].title"),
        (lambda d: d.update(financial_status="mystery"), "financial_status"),
        (lambda d: d.update(line_items="nope"), "line_items"),
        (lambda d: d.update(created_at="2008-01-10T11:00:00"), "created_at"),
        (lambda d: d["customer"].pop("id"), "customer.id"),
    ],
)
def test_malformed_orders_name_the_field(payload: Load, edit, field: str) -> None:
    data = payload(LEGACY)
    edit(data)
    with pytest.raises(PayloadError) as caught:
        shopify.order_to_input(data)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_refund_amount_is_successful_refund_transactions(payload: Load) -> None:
    assert shopify.refund_to_input(payload("shopify_refund_webhook_body.json")) == RefundInput(
        order_external_id="450789469", amount=20900, external_id="509562969"
    )


def test_refund_ignores_failed_and_non_refund_transactions(payload: Load) -> None:
    data = payload("shopify_refund_webhook_body.json")
    template = data["transactions"][0]
    data["transactions"] += [
        {**template, "id": 2, "amount": "50.00", "status": "failure"},
        {**template, "id": 3, "amount": "5.00", "status": "pending"},
        {**template, "id": 4, "amount": "7.00", "kind": "sale"},
        {**template, "id": 5, "amount": "0.99"},
    ]
    assert shopify.refund_to_input(data).amount == 20900 + 99


def test_refund_without_transactions_uses_refunded_line_subtotals(payload: Load) -> None:
    refund = payload(MODERN)["refunds"][0]
    refund["transactions"] = []
    assert shopify.refund_to_input(refund).amount == 19566 + 19567


def test_legacy_refund_without_transactions_or_subtotals_is_refused(payload: Load) -> None:
    data = payload("shopify_refund_webhook_body.json")
    del data["transactions"]
    with pytest.raises(PayloadError) as caught:
        shopify.refund_to_input(data)
    assert caught.value.field == "refund_line_items[0].subtotal_set"


def test_refund_ids_stay_exact_and_are_required(payload: Load) -> None:
    data = payload("shopify_refund_webhook_body.json")
    data.update(id=890088186047892319, order_id=BIG_ID)
    refund = shopify.refund_to_input(data)
    assert (refund.external_id, refund.order_external_id) == (
        "890088186047892319",
        "820982911946154508",
    )
    del data["order_id"]
    with pytest.raises(PayloadError, match="order_id: missing"):
        shopify.refund_to_input(data)
    data = payload("shopify_refund_webhook_body.json")
    data["transactions"][0]["amount"] = "two hundred"
    with pytest.raises(PayloadError, match=r"transactions\[0\]\.amount"):
        shopify.refund_to_input(data)


def test_refunds_embedded_in_an_order(payload: Load) -> None:
    assert shopify.order_refunds(payload(MODERN)) == [
        RefundInput(order_external_id="450789469", amount=20900, external_id="509562969")
    ]
    assert shopify.order_refunds(payload(LEGACY)) == []


def test_customer_object(payload: Load) -> None:
    customer = payload(MODERN)["customer"]
    assert shopify.customer_to_input(customer) == CustomerInput(
        external_id="207119551",
        email="bob.norman@mail.example.com",
        phone="+16136120707",
        first_name="Bob",
        last_name="Norman",
        country="US",
    )
    del customer["id"]
    with pytest.raises(PayloadError) as caught:
        shopify.customer_to_input(customer)
    assert caught.value.field == "id"


def test_no_consent_is_invented(payload: Load) -> None:
    # Modern sample: both channels "not_subscribed" (sms even carries an opt_in_level).
    assert shopify.marketing_consents(payload(MODERN)["customer"]) == []
    # Legacy sample: accepts_marketing false.
    assert shopify.marketing_consents(payload(LEGACY)["customer"]) == []


def test_explicit_opt_ins_carry_their_evidence(payload: Load) -> None:
    customer = payload(MODERN)["customer"]
    customer["email_marketing_consent"] = {
        "state": "subscribed",
        "opt_in_level": "confirmed_opt_in",
        "consent_updated_at": "2024-05-01T09:30:00+01:00",
    }
    customer["sms_marketing_consent"]["state"] = "subscribed"
    assert shopify.marketing_consents(customer) == [
        shopify.MarketingConsent(
            channel="email",
            source="email_marketing_consent",
            consent_updated_at=datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
            opt_in_level="confirmed_opt_in",
        ),
        shopify.MarketingConsent(
            channel="sms",
            source="sms_marketing_consent",
            consent_updated_at=datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
            opt_in_level="single_opt_in",
            collected_from="OTHER",
        ),
    ]


@pytest.mark.parametrize("state", ["pending", "unsubscribed", "not_subscribed", "redacted", None])
def test_only_subscribed_counts(payload: Load, state: str | None) -> None:
    customer = payload(MODERN)["customer"]
    customer["email_marketing_consent"]["state"] = state
    customer["sms_marketing_consent"]["state"] = state
    assert shopify.marketing_consents(customer) == []


def test_legacy_accepts_marketing(payload: Load) -> None:
    customer = payload(LEGACY)["customer"]
    customer.update(
        accepts_marketing=True,
        accepts_marketing_updated_at="2014-01-22T15:58:27-05:00",
        marketing_opt_in_level="single_opt_in",
    )
    assert shopify.marketing_consents(customer) == [
        shopify.MarketingConsent(
            channel="email",
            source="accepts_marketing",
            consent_updated_at=datetime(2014, 1, 22, 20, 58, 27, tzinfo=UTC),
            opt_in_level="single_opt_in",
        )
    ]
    # The newer object, when sent, is the shop's current word and overrides the boolean.
    customer["email_marketing_consent"] = {"state": "unsubscribed", "opt_in_level": None}
    assert shopify.marketing_consents(customer) == []
