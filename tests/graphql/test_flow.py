ORDER = """
mutation($input: RecordOrderInput!) {
  recordOrder(input: $input) {
    order { id externalId status pointsAwarded subtotal { amount currency } }
    customer { id pointsBalance pendingPoints tier { name } }
    userErrors { field message code }
  }
}"""

ME = """{ me { pointsBalance pendingPoints tier { name }
  tierProgress { nextTier { name } remaining }
  affordableRewards { name pointsCost }
  ledger(first: 10) {
    edges { node { kind points pendingPoints description } } pageInfo { hasNextPage } }
  vouchers { code status reward { name } } } }"""


async def test_order_earns_and_shopper_redeems(gql, shop_a):
    data = await gql.run(
        "mutation { updateProgramme(input: {approvalDays: 0, pointsPerPound: 2}) "
        "{ programme { approvalDays pointsPerPound } userErrors { code } } }",
        **shop_a.merchant,
    )
    assert data["updateProgramme"]["programme"] == {"approvalDays": 0, "pointsPerPound": 2}
    reward = await gql.run(
        'mutation { createReward(input: {name: "£5 off", kind: FIXED_AMOUNT, pointsCost: 100, '
        "amount: 500}) { reward { id amount { amount currency } } userErrors { code message } } }",
        **shop_a.merchant,
    )
    reward_id = reward["createReward"]["reward"]["id"]
    assert reward["createReward"]["reward"]["amount"] == {"amount": "5.00", "currency": "GBP"}
    data = await gql.run(
        ORDER,
        {
            "input": {
                "externalId": "1001",
                "subtotal": 12000,
                "discounts": 1000,
                "shipping": 495,
                "tax": 2000,
                "status": "PAID",
                "customer": {
                    "externalId": "c-1",
                    "email": "Jo@Example.com",
                    "phone": "07911 123456",
                },
            }
        },
        **shop_a.merchant,
    )
    payload = data["recordOrder"]
    assert payload["userErrors"] == []
    assert payload["order"]["pointsAwarded"] == 220  # (£120 - £10) x 2, shipping and tax excluded
    assert payload["customer"]["pointsBalance"] == 220
    me = (await gql.run(ME, **shop_a.shopper("c-1")))["me"]
    assert me["pointsBalance"] == 220
    assert [r["name"] for r in me["affordableRewards"]] == ["£5 off"]
    redeem = await gql.run(
        'mutation($id: ID!) { redeemReward(input: {rewardId: $id, idempotencyKey: "k1"}) '
        "{ voucher { code status reward { name } } customer { pointsBalance } "
        "userErrors { code message } } }",
        {"id": reward_id},
        **shop_a.shopper("c-1"),
    )
    assert redeem["redeemReward"]["customer"]["pointsBalance"] == 120
    assert redeem["redeemReward"]["voucher"]["status"] == "LIVE"
    me = (await gql.run(ME, **shop_a.shopper("c-1")))["me"]
    assert [e["node"]["kind"] for e in me["ledger"]["edges"]] == ["REDEEM", "EARN"]
    assert me["vouchers"][0]["code"] == redeem["redeemReward"]["voucher"]["code"]


async def test_integration_secrets_are_write_only(gql, shop_a, caplog):
    data = await gql.run(
        "mutation($input: ConfigureIntegrationInput!) { configureIntegration(input: $input) "
        "{ integration { platform address webhookPath hasWebhookSecret hasApiToken } "
        "userErrors { field code } } }",
        {
            "input": {
                "platform": "SHOPIFY",
                "address": "tea.myshopify.com",
                "webhookSecret": "s3cret-hook",
                "apiToken": "shpat_s3cret",
            }
        },
        **shop_a.merchant,
    )
    integration = data["configureIntegration"]["integration"]
    assert integration == {
        "platform": "SHOPIFY",
        "address": "tea.myshopify.com",
        "webhookPath": f"/webhooks/shopify/{shop_a.shop.public_id}",
        "hasWebhookSecret": True,
        "hasApiToken": True,
    }
    listed = await gql.post("{ integrations { platform hasApiToken } }", **shop_a.reader)
    assert "s3cret" not in listed.text and listed.json()["data"]["integrations"][0]["hasApiToken"]
    assert "s3cret" not in caplog.text
    bad = await gql.run(
        'mutation { configureIntegration(input: {platform: SHOPIFY, address: "evil.com"}) '
        "{ integration { address } userErrors { field code } } }",
        **shop_a.merchant,
    )
    assert bad["configureIntegration"]["userErrors"] == [
        {"field": ["input", "address"], "code": "INVALID"}
    ]


async def test_an_order_in_another_currency_is_refused_clearly(gql, shop_a):
    data = await gql.run(
        ORDER,
        {"input": {"externalId": "usd-1", "currency": "USD", "subtotal": 1000, "status": "PAID"}},
        **shop_a.merchant,
    )
    assert data["recordOrder"]["order"] is None
    assert data["recordOrder"]["userErrors"] == [
        {
            "field": ["input", "currency"],
            "message": "order is in USD but the shop's programme runs in GBP: "
            "send amounts in the shop currency",
            "code": "CURRENCY_MISMATCH",
        }
    ]
