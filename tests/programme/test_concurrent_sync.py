"""Order sync racing other writes to the same customer or order (PostgreSQL runs them at once)."""

import asyncio

import pytest

from loyalty.customers.models import Customer
from loyalty.programme import ledger, orders, rewards
from loyalty.programme.inputs import CustomerInput, OrderInput, RefundInput
from loyalty.programme.models import (
    EntryKind,
    Order,
    OrderStatus,
    Programme,
    Reward,
    RewardKind,
)
from loyalty.shops.service import create_shop


def _order(external_id: str, subtotal: int) -> OrderInput:
    return OrderInput(
        external_id=external_id,
        currency="GBP",
        subtotal=subtotal,
        status=OrderStatus.PAID,
        customer=CustomerInput(external_id="c1", email="c1@example.com", first_name="Cy"),
    )


@pytest.mark.both_dbs
async def test_profile_updates_never_overwrite_the_balance(database_url):
    shop = await create_shop("Race")
    await Programme.filter(shop_id=shop.id).update(approval_days=0)
    await orders.record_order(shop.id, _order("seed", 500_000))
    reward = await Reward.create(
        shop=shop, name="£1", kind=RewardKind.FIXED_AMOUNT, points_cost=100, amount=100
    )
    customer_id = (await Customer.get(shop_id=shop.id, external_id="c1")).id

    async def redeem() -> None:
        await rewards.redeem(await Customer.get(id=customer_id), reward.id)

    await asyncio.gather(
        *(redeem() for _ in range(20)),
        *(orders.record_order(shop.id, _order(f"o{n}", 1000)) for n in range(20)),
    )
    check = await ledger.check_balance(customer_id)
    assert check.ok, check
    assert check.ledger_points == 5000 - 20 * 100 + 20 * 10


@pytest.mark.both_dbs
async def test_simultaneous_refunds_both_count(database_url):
    shop = await create_shop("Refunds")
    await Programme.filter(shop_id=shop.id).update(approval_days=0)
    await orders.record_order(shop.id, _order("o1", 10_000))
    await asyncio.gather(
        orders.record_refund(shop.id, RefundInput("o1", 5000, "r1")),
        orders.record_refund(shop.id, RefundInput("o1", 5000, "r2")),
    )
    order = await Order.get(shop_id=shop.id, external_id="o1")
    assert (order.refunded, order.status) == (10_000, OrderStatus.REFUNDED)
    customer = await Customer.get(shop_id=shop.id, external_id="c1")
    assert (await ledger.check_balance(customer.id)).ledger_points == 0
    reversals = await ledger.LedgerEntry.filter(order_id=order.id, kind=EntryKind.REVERSE)
    assert sum(e.points for e in reversals) == -100


@pytest.mark.both_dbs
async def test_concurrent_completions_of_a_once_only_action_pay_once(database_url):
    from loyalty.programme import earning
    from loyalty.programme.models import ActionKind, ActionLimit, EarningRule

    shop = await create_shop("Reviews")
    programme = await Programme.get(shop_id=shop.id)
    rule = await EarningRule.create(
        shop=shop,
        kind=ActionKind.REVIEW,
        key="review",
        name="Review",
        points=50,
        limit=ActionLimit.ONCE,
    )
    await orders.record_order(shop.id, _order("o1", 0))
    customer_id = (await Customer.get(shop_id=shop.id, external_id="c1")).id

    async def complete() -> str:
        try:
            await earning.complete_action(await Customer.get(id=customer_id), programme, rule)
        except Exception as exc:  # noqa: BLE001 - the refusals are what we count
            return getattr(exc, "code", type(exc).__name__)
        return "paid"

    outcomes = await asyncio.gather(*(complete() for _ in range(10)))
    assert sorted(outcomes) == ["LIMIT_REACHED"] * 9 + ["paid"]
    assert (await ledger.check_balance(customer_id)).ledger_points == 50
