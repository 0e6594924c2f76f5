import pytest

from loyalty.programme import ledger, orders, rewards
from loyalty.programme.inputs import CustomerInput, OrderInput
from loyalty.programme.models import OrderStatus, Programme, Reward, RewardKind
from loyalty.shops.service import create_shop


@pytest.mark.both_dbs
async def test_order_then_redeem(database_url):
    shop = await create_shop("Test")
    await Programme.filter(shop_id=shop.id).update(approval_days=0)
    order = await orders.record_order(
        shop.id,
        OrderInput(
            external_id="1001",
            currency="GBP",
            subtotal=5000,
            status=OrderStatus.PAID,
            customer=CustomerInput(external_id="c1", email="A@Example.com"),
        ),
    )
    assert order.points_awarded == 50
    reward = await Reward.create(
        shop=shop, name="£5 off", kind=RewardKind.FIXED_AMOUNT, points_cost=20, amount=500
    )
    from loyalty.customers.models import Customer

    customer = await Customer.get(shop_id=shop.id, external_id="c1")
    assert customer.email == "a@example.com"
    voucher = await rewards.redeem(customer, reward.id)
    assert voucher.code.startswith("LOY-")
    check = await ledger.check_balance(customer.id)
    assert check.ok and check.cached_points == 30
