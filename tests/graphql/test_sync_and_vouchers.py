"""Batch sync for shops without webhooks, and loyalty vouchers used on orders."""

from tests.graphql.helpers import (
    RECORD_ORDER,
    REDEEM,
    create_customer_with_points,
    create_reward,
    order_input,
    setup_programme,
)

SYNC_ORDERS = """mutation($input: SyncOrdersInput!) { syncOrders(input: $input) {
  results { externalId order { pointsAwarded } customer { pointsBalance }
    userErrors { code field } }
  userErrors { code message } } }"""


async def test_sync_orders_reports_each_order(gql, shop_a):
    await setup_programme(gql, shop_a)
    batch = [
        order_input("s-1", "c-1", 1000),
        {**order_input("s-2", "c-2", 500), "discounts": 900},
        order_input("s-3", "c-1", 2000),
    ]
    data = await gql.run(SYNC_ORDERS, {"input": {"orders": batch}}, **shop_a.merchant)
    results = data["syncOrders"]["results"]
    assert [r["externalId"] for r in results] == ["s-1", "s-2", "s-3"]
    assert results[0]["order"] == {"pointsAwarded": 10}
    assert results[1]["order"] is None
    assert results[1]["userErrors"] == [{"code": "INVALID", "field": ["input", "discounts"]}]
    assert results[2]["customer"] == {"pointsBalance": 30}
    again = await gql.run(SYNC_ORDERS, {"input": {"orders": batch}}, **shop_a.merchant)
    assert again["syncOrders"]["results"][2]["customer"] == {"pointsBalance": 30}


async def test_sync_batches_are_capped(gql, shop_a):
    batch = [order_input(f"o-{n}", "c-1", 100) for n in range(251)]
    data = await gql.run(SYNC_ORDERS, {"input": {"orders": batch}}, **shop_a.merchant)
    assert data["syncOrders"]["results"] == []
    assert data["syncOrders"]["userErrors"][0]["code"] == "BATCH_TOO_LARGE"


async def test_sync_customers(gql, shop_a):
    data = await gql.run(
        "mutation($input: SyncCustomersInput!) { syncCustomers(input: $input) "
        "{ results { externalId customer { email phone } userErrors { code } } } }",
        {
            "input": {
                "customers": [
                    {"externalId": "1", "email": " Ann@Example.COM ", "phone": "+44 7911 123456"},
                    {"externalId": "2", "email": "not-an-email"},
                ]
            }
        },
        **shop_a.merchant,
    )
    first, second = data["syncCustomers"]["results"]
    assert first["customer"] == {"email": "ann@example.com", "phone": "+447911123456"}
    assert second["userErrors"] == [{"code": "INVALID_EMAIL"}]


async def test_voucher_used_on_an_order_and_returned_on_full_refund(gql, shop_a):
    await setup_programme(gql, shop_a)
    await create_customer_with_points(gql, shop_a, "c-1", 100)
    reward = await create_reward(gql, shop_a, 60)
    redeemed = await gql.run(REDEEM, {"input": {"rewardId": reward}}, **shop_a.shopper("c-1"))
    code = redeemed["redeemReward"]["voucher"]["code"]
    order = {**order_input("v-1", "c-1", 2000), "discountCodes": [code.lower(), "SUMMER10"]}
    await gql.run(RECORD_ORDER, {"input": order}, **shop_a.merchant)
    me = await gql.run("{ me { pointsBalance vouchers { status } } }", **shop_a.shopper("c-1"))
    assert me["me"] == {"pointsBalance": 60, "vouchers": [{"status": "USED"}]}

    refund = (
        'mutation { recordRefund(input: {orderExternalId: "v-1", amount: 2000, '
        'refundExternalId: "r-1"}) { order { status } userErrors { code } } }'
    )
    data = await gql.run(refund, **shop_a.merchant)
    assert data["recordRefund"]["order"]["status"] == "REFUNDED"
    me = await gql.run("{ me { pointsBalance } }", **shop_a.shopper("c-1"))
    assert me["me"]["pointsBalance"] == 100  # 20 order points reversed, 60 voucher points back
    await gql.run(refund, **shop_a.merchant)
    assert (await gql.run("{ me { pointsBalance } }", **shop_a.shopper("c-1")))["me"][
        "pointsBalance"
    ] == 100
