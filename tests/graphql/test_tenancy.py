"""Through the HTTP endpoint with real credentials: no caller reaches another's data."""

from tests.graphql.helpers import (
    ADJUST,
    REDEEM,
    create_customer_with_points,
    create_reward,
    setup_programme,
)

CUSTOMER = """query($id: ID!) { customer(id: $id) { id email pointsBalance
  ledger(first: 5) { edges { node { points } } } } }"""


async def test_merchant_key_cannot_read_or_change_another_shop(gql, shop_a, shop_b):
    await setup_programme(gql, shop_b)
    b_customer = await create_customer_with_points(gql, shop_b, "b-1", 50)
    b_reward = await create_reward(gql, shop_b, 10)

    as_a = shop_a.merchant
    assert (await gql.run(CUSTOMER, {"id": b_customer}, **as_a))["customer"] is None
    listing = await gql.run("{ customers(first: 50) { edges { node { id } } } }", **as_a)
    assert listing["customers"]["edges"] == []
    programme = await gql.run("{ programme { rewards { id } } }", **as_a)
    assert programme["programme"]["rewards"] == []

    adjust = await gql.run(
        ADJUST, {"input": {"customerId": b_customer, "points": 1000, "reason": "x"}}, **as_a
    )
    assert adjust["adjustPoints"]["entry"] is None
    assert adjust["adjustPoints"]["userErrors"][0]["code"] == "NOT_FOUND"

    archive = await gql.run(
        "mutation($id: ID!) { archiveReward(input: {id: $id}) "
        "{ reward { archived } userErrors { code } } }",
        {"id": b_reward},
        **as_a,
    )
    assert archive["archiveReward"]["userErrors"][0]["code"] == "NOT_FOUND"

    still = await gql.run(CUSTOMER, {"id": b_customer}, **shop_b.merchant)
    assert still["customer"]["pointsBalance"] == 50
    rewards = await gql.run("{ programme { rewards { id archived } } }", **shop_b.merchant)
    assert rewards["programme"]["rewards"] == [{"id": b_reward, "archived": False}]


async def test_shopper_cannot_redeem_another_shops_reward(gql, shop_a, shop_b):
    await setup_programme(gql, shop_a)
    await create_customer_with_points(gql, shop_a, "a-1", 50)
    b_reward = await create_reward(gql, shop_b, 10)
    data = await gql.run(REDEEM, {"input": {"rewardId": b_reward}}, **shop_a.shopper("a-1"))
    assert data["redeemReward"]["userErrors"][0]["code"] == "NOT_FOUND"
    me = await gql.run("{ me { pointsBalance } }", **shop_a.shopper("a-1"))
    assert me["me"]["pointsBalance"] == 50


async def test_shopper_sees_only_themselves(gql, shop_a):
    await setup_programme(gql, shop_a)
    other = await create_customer_with_points(gql, shop_a, "a-2", 70)
    await create_customer_with_points(gql, shop_a, "a-1", 30)
    me = await gql.run("{ me { externalId pointsBalance } }", **shop_a.shopper("a-1"))
    assert me["me"] == {"externalId": "a-1", "pointsBalance": 30}
    for query, variables in (
        (CUSTOMER, {"id": other}),
        ("{ customers { edges { node { id } } } }", None),
        ("{ programme { approvalDays } }", None),
    ):
        response = await gql.post(query, variables, **shop_a.shopper("a-1"))
        body = response.json()
        assert not any((body["data"] or {}).values())
        assert "merchant API key" in body["errors"][0]["message"]
    adjust = await gql.post(
        ADJUST,
        {"input": {"customerId": other, "points": 5, "reason": "x"}},
        **shop_a.shopper("a-1"),
    )
    assert adjust.json()["errors"][0]["message"].startswith("Requires a merchant API key")


async def test_read_only_key_cannot_write(gql, shop_a):
    await setup_programme(gql, shop_a)
    customer = await create_customer_with_points(gql, shop_a, "a-1", 30)
    reader = shop_a.reader
    read = await gql.run(CUSTOMER, {"id": customer}, **reader)
    assert read["customer"]["pointsBalance"] == 30
    response = await gql.post(
        ADJUST, {"input": {"customerId": customer, "points": 5, "reason": "x"}}, **reader
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Requires a merchant API key with the write scope"
    after = await gql.run(CUSTOMER, {"id": customer}, **shop_a.merchant)
    assert after["customer"]["pointsBalance"] == 30


async def test_bad_credentials_are_named_and_refused(gql, shop_a):
    for headers in (
        {"x-api-key": "lk_not-a-real-key"},
        {"authorization": "Bearer not.a.jwt"},
        {},
    ):
        body = (await gql.post("{ programme { approvalDays } }", **headers)).json()
        assert not any((body["data"] or {}).values())
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = (await gql.post("{ me { id } }", **{"x-api-key": "lk_nope"})).json()
    assert body["errors"][0]["message"] == "unknown or revoked API key"
