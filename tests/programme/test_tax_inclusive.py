from loyalty.programme import orders
from loyalty.programme.inputs import CustomerInput, OrderInput, RefundInput
from loyalty.programme.models import OrderStatus, Programme
from loyalty.shops.service import create_shop


async def test_vat_inclusive_order_earns_on_net_goods_and_refunds_on_what_was_paid(database_url):
    shop = await create_shop("VAT")
    await Programme.filter(shop_id=shop.id).update(approval_days=0)
    # £60 of goods incl. £10 VAT, £5 shipping incl. its VAT: £65 paid in all.
    order = await orders.record_order(
        shop.id,
        OrderInput(
            external_id="v1",
            currency="GBP",
            subtotal=6000,
            shipping=500,
            tax=1083,
            taxes_included=True,
            status=OrderStatus.PAID,
            customer=CustomerInput(external_id="c", email="c@example.com"),
        ),
    )
    assert order.points_awarded == 49  # (6000 - 1083) // 100
    assert orders.order_total(order) == 6500
    refunded = await orders.record_refund(shop.id, RefundInput("v1", 6500, "r1"))
    assert refunded.status == OrderStatus.REFUNDED

    await Programme.filter(shop_id=shop.id).update(include_tax=True)
    order = await orders.record_order(
        shop.id,
        OrderInput(
            external_id="v2",
            currency="GBP",
            subtotal=6000,
            tax=1000,
            taxes_included=True,
            status=OrderStatus.PAID,
            customer=CustomerInput(external_id="c"),
        ),
    )
    assert order.points_awarded == 60
