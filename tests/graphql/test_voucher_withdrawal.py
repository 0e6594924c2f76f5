"""cancelVoucher withdraws a code pushed into the shop, after commit, through the worker."""

from __future__ import annotations

import json

import httpx
import respx

from loyalty.integrations import voucher_push
from loyalty.integrations.models import Integration, Platform
from loyalty.programme.models import Voucher, VoucherStatus
from loyalty.workers import vouchers
from tests.graphql.helpers import (
    REDEEM,
    create_customer_with_points,
    create_reward,
    setup_programme,
)

SHOPIFY_URL = "https://shop-a.myshopify.com/admin/api/2026-10/graphql.json"
GID = "gid://shopify/DiscountCodeNode/1057371001"
CANCEL = """mutation($input: CancelVoucherInput!) { cancelVoucher(input: $input) {
  voucher { status } customer { pointsBalance } userErrors { code } } }"""


def sends(monkeypatch) -> dict[str, list[int]]:
    """What the mutations hand to the voucher workers (the broker is not running)."""
    sent: dict[str, list[int]] = {"push": [], "withdraw": []}
    monkeypatch.setattr(vouchers.push_voucher_to_shop, "send", sent["push"].append)
    monkeypatch.setattr(vouchers.withdraw_voucher_from_shop, "send", sent["withdraw"].append)
    return sent


async def redeem(gql, shop_a) -> tuple[str, int]:
    await setup_programme(gql, shop_a)
    await create_customer_with_points(gql, shop_a, "c-1", 100)
    reward = await create_reward(gql, shop_a, 60)
    data = await gql.run(REDEEM, {"input": {"rewardId": reward}}, **shop_a.shopper("c-1"))
    voucher_gid = data["redeemReward"]["voucher"]["id"]
    voucher = await Voucher.get(shop_id=shop_a.shop.id)
    return voucher_gid, voucher.id


async def test_cancelling_a_live_shopify_voucher_deletes_its_discount(gql, shop_a, monkeypatch):
    sent = sends(monkeypatch)
    await Integration.create(
        shop=shop_a.shop,
        platform=Platform.SHOPIFY,
        address="shop-a.myshopify.com",
        api_token="shpat_a",
    )
    voucher_gid, voucher_id = await redeem(gql, shop_a)
    assert sent == {"push": [voucher_id], "withdraw": []}
    created = {"codeDiscountNode": {"id": GID}, "userErrors": []}
    with respx.mock(assert_all_called=True) as mock:
        mock.post(SHOPIFY_URL).mock(
            return_value=httpx.Response(200, json={"data": {"discountCodeBasicCreate": created}})
        )
        assert await voucher_push.push_voucher(voucher_id) == VoucherStatus.LIVE

    data = await gql.run(CANCEL, {"input": {"voucherId": voucher_gid}}, **shop_a.merchant)
    assert data["cancelVoucher"] == {
        "voucher": {"status": "CANCELLED"},
        "customer": {"pointsBalance": 100},
        "userErrors": [],
    }
    assert sent["withdraw"] == [voucher_id]

    deleted = {"deletedCodeDiscountId": GID, "userErrors": []}
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(
            return_value=httpx.Response(200, json={"data": {"discountCodeDelete": deleted}})
        )
        outcome = await voucher_push.withdraw_voucher(voucher_id)
    assert outcome == voucher_push.Withdrawal.DELETED
    request = route.calls.last.request
    assert request.headers["X-Shopify-Access-Token"] == "shpat_a"
    assert json.loads(request.content) == {
        "query": voucher_push.shopify_admin.DELETE_MUTATION,
        "variables": {"id": GID},
    }


async def test_cancelling_a_voucher_still_being_pushed_leaves_it_to_the_push(
    gql, shop_a, monkeypatch
):
    sent = sends(monkeypatch)
    await Integration.create(
        shop=shop_a.shop, platform=Platform.SHOPIFY, address="shop-a.myshopify.com", api_token="t"
    )
    voucher_gid, _ = await redeem(gql, shop_a)
    data = await gql.run(CANCEL, {"input": {"voucherId": voucher_gid}}, **shop_a.merchant)
    assert data["cancelVoucher"]["voucher"] == {"status": "CANCELLED"}
    assert sent["withdraw"] == []  # no platform id yet: the push withdraws it if it lands


async def test_a_shop_without_an_integration_needs_no_withdrawal(gql, shop_a, monkeypatch):
    sent = sends(monkeypatch)
    voucher_gid, _ = await redeem(gql, shop_a)
    data = await gql.run(CANCEL, {"input": {"voucherId": voucher_gid}}, **shop_a.merchant)
    assert data["cancelVoucher"]["voucher"] == {"status": "CANCELLED"}
    assert sent == {"push": [], "withdraw": []}
