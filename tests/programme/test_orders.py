"""Orders: points once per order, on goods after discounts; refunds reverse pro rata."""

import pytest

from loyalty.customers.models import Customer
from loyalty.errors import DomainError
from loyalty.programme import earning, jobs, ledger, orders
from loyalty.programme.inputs import CustomerInput, OrderInput, RefundInput
from loyalty.programme.models import EntryKind, LedgerEntry, Order, OrderStatus, Refund


async def _points_of(kit, subtotal, **fields):
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    order = await kit.order("o1", subtotal, **fields)
    spendable, _ = await kit.balances(customer)
    assert spendable == order.points_awarded
    return spendable


async def test_points_are_earned_on_the_subtotal_after_discounts(kit):
    assert await _points_of(kit, 5000, discounts=1000, shipping=499, tax=800) == 40


async def test_points_are_whole_and_rounded_down(kit):
    assert await _points_of(kit, 1299) == 12


async def test_points_per_pound_is_configurable(kit):
    await kit.configure(points_per_pound=5)
    assert await _points_of(kit, 2050) == 102


async def test_shipping_can_be_included(kit):
    await kit.configure(include_shipping=True)
    assert await _points_of(kit, 5000, shipping=500, tax=1000) == 55


async def test_tax_can_be_included(kit):
    await kit.configure(include_tax=True)
    assert await _points_of(kit, 5000, shipping=500, tax=1000) == 60


async def test_shipping_and_tax_can_both_be_included(kit):
    await kit.configure(include_shipping=True, include_tax=True)
    assert await _points_of(kit, 5000, discounts=500, shipping=500, tax=1000) == 60


async def test_the_customer_tier_multiplies_points(kit):
    gold = await kit.tier("Gold", threshold=0, multiplier_percent=150)
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    # The first order moves the customer into the tier ...
    await kit.order("o1", 1000)
    assert (await kit.fresh(customer)).tier_id == gold.id
    # ... and later orders earn at its rate, still in whole points.
    second = await kit.order("o2", 1999)
    assert second.points_awarded == 1999 * 150 // 10000


def test_earning_base_never_goes_negative():
    programme = type("P", (), {"include_shipping": False, "include_tax": False})()
    order = Order(subtotal=100, discounts=300, shipping=0, tax=0)
    assert earning.earning_base(programme, order) == 0


@pytest.mark.both_dbs
async def test_an_order_earns_once_however_often_it_is_reported(kit):
    customer = await kit.customer()
    for status in (OrderStatus.PAID, OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.PAID):
        order = await kit.order("1001", 6000, status=status)
    assert order.points_awarded == 60
    assert await LedgerEntry.filter(customer_id=customer.id).count() == 1
    assert await kit.balances(customer) == (0, 60)
    assert await Order.filter(shop_id=kit.shop.id).count() == 1


async def test_an_unpaid_order_earns_when_it_is_paid(kit):
    customer = await kit.customer()
    order = await kit.order("1", 3000, status=OrderStatus.PENDING)
    assert order.points_awarded == 0 and order.awarded_at is None
    assert await kit.balances(customer) == (0, 0)
    order = await kit.order("1", 3000, status=OrderStatus.PAID)
    assert order.points_awarded == 30 and order.awarded_at is not None
    assert await kit.balances(customer) == (0, 30)


async def test_a_cancelled_order_reverses_all_its_points(kit):
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    await kit.order("1", 7000)
    await kit.order("2", 1000)
    assert await kit.balances(customer) == (80, 0)
    await kit.order("1", 7000, status=OrderStatus.CANCELLED)
    assert await kit.balances(customer) == (10, 0)
    # Reporting the cancellation again, or a late 'paid', changes nothing.
    await kit.order("1", 7000, status=OrderStatus.CANCELLED)
    late = await kit.order("1", 7000, status=OrderStatus.PAID)
    assert late.status == OrderStatus.CANCELLED
    assert await kit.balances(customer) == (10, 0)
    assert await LedgerEntry.filter(order_id=late.id, kind=EntryKind.REVERSE).count() == 1


async def test_an_order_cancelled_before_payment_never_earns(kit):
    customer = await kit.customer()
    await kit.order("1", 7000, status=OrderStatus.PENDING)
    await kit.order("1", 7000, status=OrderStatus.CANCELLED)
    await kit.order("1", 7000, status=OrderStatus.PAID)
    assert await kit.balances(customer) == (0, 0)
    assert await LedgerEntry.filter(customer_id=customer.id).count() == 0


@pytest.mark.both_dbs
async def test_a_refund_reverses_points_pro_rata_and_once_per_refund_id(kit):
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    await kit.order("1", 9000, shipping=1000)  # earns 90 on a total of 10000
    await kit.refund("1", 2500, external_id="r1")
    assert await kit.balances(customer) == (68, 0)  # 90 - floor(90 * 1/4)
    # The shop retries the same refund: one effect only.
    order = await kit.refund("1", 2500, external_id="r1")
    assert order.refunded == 2500
    assert await kit.balances(customer) == (68, 0)
    assert await Refund.filter(order_id=order.id).count() == 1
    # A second, different refund takes the order to 3/4 refunded in all.
    order = await kit.refund("1", 5000, external_id="r2")
    assert order.refunded == 7500
    assert await kit.balances(customer) == (23, 0)  # 90 - floor(90 * 3/4)
    order = await kit.refund("1", 2500, external_id="r3")
    assert order.status == OrderStatus.REFUNDED
    assert await kit.balances(customer) == (0, 0)


async def test_refunds_are_capped_at_the_order_total(kit):
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    await kit.order("1", 4000)
    order = await kit.refund("1", 9999, external_id="r1")
    assert order.refunded == 4000 and order.status == OrderStatus.REFUNDED
    assert await kit.balances(customer) == (0, 0)
    await kit.refund("1", 100, external_id="r2")
    assert await kit.balances(customer) == (0, 0)


async def test_refunds_take_pending_points_first(kit):
    await kit.configure(approval_days=7)
    customer = await kit.customer()
    await kit.order("1", 10000)
    kit.at(days=7)
    await jobs.confirm_pending(kit.shop.id)
    await kit.order("2", 4000)  # 40 pending
    await kit.refund("2", 1000, external_id="r1")
    assert await kit.balances(customer) == (100, 30)
    # Refunds of a confirmed order come off the spendable balance.
    await kit.refund("1", 5000, external_id="r2")
    assert await kit.balances(customer) == (50, 30)


async def test_a_refund_after_the_points_were_spent_may_leave_a_negative_balance(kit):
    """Documented policy: the reversal is recorded in full even if it goes below zero."""
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    await kit.order("1", 10000)
    await ledger.post(customer, EntryKind.REDEEM, points=-80, require_funds=True)
    await kit.refund("1", 10000, external_id="r1")
    assert await kit.balances(customer) == (-80, 0)


async def test_a_refund_without_an_id_applies_each_time(kit):
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    await kit.order("1", 10000)
    await kit.refund("1", 1000)
    await kit.refund("1", 1000)
    assert await kit.balances(customer) == (80, 0)


async def test_invalid_refunds_are_refused(kit):
    await kit.customer()
    with pytest.raises(DomainError) as raised:
        await kit.refund("missing", 100)
    assert raised.value.code == "NOT_FOUND"
    await kit.order("1", 1000)
    for amount in (0, -5):
        with pytest.raises(DomainError) as raised:
            await kit.refund("1", amount)
        assert (raised.value.code, raised.value.field) == ("INVALID", "amount")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subtotal": -1}, "subtotal"),
        ({"shipping": -1}, "shipping"),
        ({"tax": -1}, "tax"),
        ({"discounts": -1}, "discounts"),
        ({"subtotal": 100, "discounts": 101}, "discounts"),
        ({"external_id": ""}, "externalId"),
    ],
)
async def test_invalid_orders_are_refused_and_not_stored(kit, fields, field):
    data = {"external_id": "1", "currency": "GBP", "subtotal": 1000, "status": OrderStatus.PAID}
    data.update(fields)
    with pytest.raises(DomainError) as raised:
        await orders.record_order(kit.shop.id, OrderInput(**data))
    assert (raised.value.code, raised.value.field) == ("INVALID", field)
    assert await Order.filter(shop_id=kit.shop.id).count() == 0


async def test_an_order_creates_or_updates_its_customer(kit, t0):
    order = await orders.record_order(
        kit.shop.id,
        OrderInput(
            external_id="1",
            currency="gbp",
            subtotal=1000,
            status=OrderStatus.PAID,
            customer=CustomerInput(external_id="c9", email=" Jo@Example.COM", first_name="Jo"),
        ),
    )
    customer = await Customer.get(id=order.customer_id)
    assert (customer.external_id, customer.email, customer.first_name) == (
        "c9",
        "jo@example.com",
        "Jo",
    )
    assert order.currency == "GBP"
    assert order.placed_at == t0
    assert customer.last_order_at == t0


async def test_an_order_without_a_customer_is_kept_without_points(kit):
    order = await kit.order("1", 5000, customer=None)
    assert order.customer_id is None and order.points_awarded == 0
    assert await LedgerEntry.filter(shop_id=kit.shop.id).count() == 0
    await kit.refund("1", 5000)  # nothing to reverse, no error


async def test_a_later_update_without_customer_details_keeps_the_order_customer(kit):
    """Status-only webhooks must not detach the order from its customer."""
    await kit.configure(approval_days=0)
    customer = await kit.customer()
    await kit.order("1", 5000)
    order = await kit.order("1", 5000, customer=None, status=OrderStatus.CANCELLED)
    assert order.customer_id == customer.id
    assert await kit.balances(customer) == (0, 0)


async def test_the_same_order_id_in_two_shops_is_two_orders(kit, other_kit):
    await kit.configure(approval_days=0)
    await other_kit.configure(approval_days=0)
    mine = await kit.customer()
    theirs = await other_kit.customer()
    await kit.order("1", 1000)
    await other_kit.order("1", 5000)
    await other_kit.refund("1", 5000, external_id="r1")
    assert await kit.balances(mine) == (10, 0)
    assert await other_kit.balances(theirs) == (0, 0)
    with pytest.raises(DomainError):
        await orders.record_refund(kit.shop.id, RefundInput(order_external_id="missing", amount=1))
