"""recordOrder, adjustPoints and redeemReward retried with the same key: one effect."""

from tests.graphql.helpers import (
    ADJUST,
    RECORD_ORDER,
    REDEEM,
    create_customer_with_points,
    create_reward,
    order_input,
    setup_programme,
)

LEDGER = """query($id: ID!) { customer(id: $id) { pointsBalance
  ledger(first: 50) { edges { node { kind points } } } } }"""


async def _ledger(gql, auth, customer_id):
    data = await gql.run(LEDGER, {"id": customer_id}, **auth.merchant)
    return data["customer"]


async def test_record_order_same_key_one_effect_same_response(gql, shop_a):
    await setup_programme(gql, shop_a)
    variables = {"input": {**order_input("1001", "c-1", 4200), "idempotencyKey": "order-1001"}}
    first = await gql.run(RECORD_ORDER, variables, **shop_a.merchant)
    second = await gql.run(RECORD_ORDER, variables, **shop_a.merchant)
    assert first == second
    customer = await _ledger(gql, shop_a, first["recordOrder"]["customer"]["id"])
    assert customer["pointsBalance"] == 42
    assert len(customer["ledger"]["edges"]) == 1

    changed = {"input": {**order_input("1001", "c-1", 9999), "idempotencyKey": "order-1001"}}
    third = await gql.run(RECORD_ORDER, changed, **shop_a.merchant)
    assert third["recordOrder"]["order"] is None
    assert third["recordOrder"]["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_record_order_without_key_still_awards_once(gql, shop_a):
    await setup_programme(gql, shop_a)
    variables = {"input": order_input("1002", "c-1", 4200)}
    for _ in range(3):
        data = await gql.run(RECORD_ORDER, variables, **shop_a.merchant)
    customer = await _ledger(gql, shop_a, data["recordOrder"]["customer"]["id"])
    assert customer["pointsBalance"] == 42
    assert len(customer["ledger"]["edges"]) == 1


async def test_adjust_points_same_key_one_effect(gql, shop_a):
    await setup_programme(gql, shop_a)
    customer_id = await create_customer_with_points(gql, shop_a, "c-1", 10)
    body = {"customerId": customer_id, "points": 25, "reason": "Goodwill", "idempotencyKey": "a1"}
    first = await gql.run(ADJUST, {"input": body}, **shop_a.merchant)
    second = await gql.run(ADJUST, {"input": body}, **shop_a.merchant)
    assert first == second
    assert first["adjustPoints"]["entry"]["reason"] == "Goodwill"
    assert first["adjustPoints"]["entry"]["actor"].startswith("api_key:")
    assert (await _ledger(gql, shop_a, customer_id))["pointsBalance"] == 35
    reused = await gql.run(ADJUST, {"input": {**body, "points": 26}}, **shop_a.merchant)
    assert reused["adjustPoints"]["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await _ledger(gql, shop_a, customer_id))["pointsBalance"] == 35


async def test_redeem_reward_same_key_one_effect(gql, shop_a):
    await setup_programme(gql, shop_a)
    customer_id = await create_customer_with_points(gql, shop_a, "c-1", 100)
    reward = await create_reward(gql, shop_a, 30)
    other_reward = await create_reward(gql, shop_a, 40, name="£7 off")
    shopper = shop_a.shopper("c-1")
    variables = {"input": {"rewardId": reward, "idempotencyKey": "r-1"}}
    first = await gql.run(REDEEM, variables, **shopper)
    second = await gql.run(REDEEM, variables, **shopper)
    assert first == second
    assert first["redeemReward"]["customer"]["pointsBalance"] == 70
    assert (await _ledger(gql, shop_a, customer_id))["pointsBalance"] == 70
    reused = await gql.run(
        REDEEM, {"input": {"rewardId": other_reward, "idempotencyKey": "r-1"}}, **shopper
    )
    assert reused["redeemReward"]["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    vouchers = await gql.run("{ me { vouchers { code } pointsBalance } }", **shopper)
    assert len(vouchers["me"]["vouchers"]) == 1
    assert vouchers["me"]["pointsBalance"] == 70
