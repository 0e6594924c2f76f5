"""No double spend: N concurrent redemptions of balance B at cost C succeed floor(B/C) times."""

import asyncio

import pytest

from loyalty.customers.models import Customer
from loyalty.programme import ledger
from loyalty.programme.models import Voucher
from tests.graphql.helpers import (
    REDEEM,
    create_customer_with_points,
    create_reward,
    setup_programme,
)

BALANCE, COST, ATTEMPTS = 230, 20, 50


@pytest.mark.both_dbs
async def test_concurrent_redeem_reward_never_overspends(gql, shop_a):
    await setup_programme(gql, shop_a)
    await create_customer_with_points(gql, shop_a, "c-1", BALANCE)
    reward = await create_reward(gql, shop_a, COST)
    shopper = shop_a.shopper("c-1")

    async def attempt(n: int) -> dict:
        variables = {"input": {"rewardId": reward, "idempotencyKey": f"attempt-{n}"}}
        return (await gql.run(REDEEM, variables, **shopper))["redeemReward"]

    results = await asyncio.gather(*(attempt(n) for n in range(ATTEMPTS)))
    succeeded = [r for r in results if r["voucher"] is not None]
    refused = [r for r in results if r["voucher"] is None]
    assert len(succeeded) == BALANCE // COST
    assert {e["code"] for r in refused for e in r["userErrors"]} == {"INSUFFICIENT_POINTS"}
    assert len(refused) == ATTEMPTS - BALANCE // COST

    customer = await Customer.get(shop_id=shop_a.shop.id, external_id="c-1")
    check = await ledger.check_balance(customer.id)
    assert check.ok, check
    assert check.ledger_points == BALANCE % COST
    codes = await Voucher.filter(customer_id=customer.id).values_list("code", flat=True)
    assert len(set(codes)) == BALANCE // COST
