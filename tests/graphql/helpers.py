"""Small builders shared by the GraphQL tests."""

from __future__ import annotations

from typing import Any

RECORD_ORDER = """
mutation($input: RecordOrderInput!) {
  recordOrder(input: $input) {
    order { id externalId status pointsAwarded }
    customer { id pointsBalance pendingPoints tier { name } }
    userErrors { field message code }
  }
}"""

REDEEM = """
mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) {
    voucher { id code status }
    customer { pointsBalance }
    userErrors { field message code }
  }
}"""

ADJUST = """
mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) {
    entry { id kind points reason actor }
    customer { pointsBalance }
    userErrors { field message code }
  }
}"""


def order_input(external_id: str, customer_id: str, subtotal: int, **extra: Any) -> dict:
    return {
        "externalId": external_id,
        "subtotal": subtotal,
        "status": "PAID",
        "customer": {"externalId": customer_id, "email": f"{customer_id}@example.com"},
        **extra,
    }


async def setup_programme(gql, auth, *, approval_days: int = 0) -> None:
    await gql.run(
        f"mutation {{ updateProgramme(input: {{approvalDays: {approval_days}}}) "
        "{ userErrors { code } } }",
        **auth.merchant,
    )


async def create_reward(gql, auth, cost: int, name: str = "£5 off") -> str:
    data = await gql.run(
        "mutation($input: RewardInput!) { createReward(input: $input) "
        "{ reward { id } userErrors { code message } } }",
        {"input": {"name": name, "kind": "FIXED_AMOUNT", "pointsCost": cost, "amount": 500}},
        **auth.merchant,
    )
    assert data["createReward"]["userErrors"] == []
    return data["createReward"]["reward"]["id"]


async def create_customer_with_points(gql, auth, customer_id: str, points: int) -> str:
    """A synced customer holding `points` confirmed points (via an order at 1 point/£1)."""
    data = await gql.run(
        RECORD_ORDER,
        {"input": order_input(f"seed-{customer_id}", customer_id, points * 100)},
        **auth.merchant,
    )
    assert data["recordOrder"]["customer"]["pointsBalance"] == points, data
    return data["recordOrder"]["customer"]["id"]
