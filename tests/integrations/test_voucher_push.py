"""Pushing redeemed vouchers into Shopify and WooCommerce, each shop API mocked with respx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import respx
from dramatiq import Broker, Middleware, Worker
from dramatiq.brokers.stub import StubBroker

from loyalty import clock
from loyalty.customers.models import Customer
from loyalty.customers.service import upsert_customer
from loyalty.integrations import voucher_push
from loyalty.integrations.models import Integration, Platform
from loyalty.programme import ledger, rewards
from loyalty.programme.inputs import CustomerInput
from loyalty.programme.models import (
    EntryKind,
    LedgerEntry,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from loyalty.shops.service import create_shop
from loyalty.workers import vouchers
from loyalty.workers.broker import build_broker

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SHOPIFY_URL = "https://hare-and-co.myshopify.com/admin/api/2026-10/graphql.json"
WOO_URL = "https://shop.hare.example/wp-json/wc/v3/coupons"
TOKEN = "shpat_0123456789abcdef"
BASIC = voucher_push.shopify_admin.MUTATIONS["discountCodeBasicCreate"]


def shopify_created(mutation: str = "discountCodeBasicCreate") -> httpx.Response:
    node = {"id": "gid://shopify/DiscountCodeNode/1057371001"}
    return httpx.Response(
        200, json={"data": {mutation: {"codeDiscountNode": node, "userErrors": []}}}
    )


def shopify_user_errors(*errors: dict) -> httpx.Response:
    payload = {"codeDiscountNode": None, "userErrors": list(errors)}
    return httpx.Response(200, json={"data": {"discountCodeBasicCreate": payload}})


async def redeemed(
    platform: Platform,
    kind: RewardKind = RewardKind.FIXED_AMOUNT,
    *,
    external_id: str | None = "7408011542684",
    email: str | None = "ann@example.com",
    **reward_fields: object,
) -> tuple[Customer, Voucher]:
    """A customer of a shop on `platform` with 500 points, who spent 200 on a reward."""
    clock.set_now(T0)
    shop = await create_shop("Hare & Co")
    if platform == Platform.SHOPIFY:
        await Integration.create(
            shop=shop, platform=platform, address="hare-and-co.myshopify.com", api_token=TOKEN
        )
    else:
        await Integration.create(
            shop=shop,
            platform=platform,
            address="https://shop.hare.example/",
            api_key="ck_live",
            api_secret="cs_secret",
        )
    customer, _ = await upsert_customer(
        shop.id, CustomerInput(external_id=external_id, email=email)
    )
    await ledger.post(customer, EntryKind.ADJUST, points=500, actor="staff:test", reason="setup")
    fields = {"amount": 500} if kind == RewardKind.FIXED_AMOUNT else {}
    reward = await Reward.create(
        shop=shop, name="£5 off", kind=kind, points_cost=200, **(fields | reward_fields)
    )
    voucher = await rewards.redeem(customer, reward.id)
    assert voucher.status == VoucherStatus.PENDING
    return customer, voucher


async def balance(customer: Customer) -> int:
    check = await ledger.check_balance(customer.id)
    assert check.ok, check
    return check.cached_points


async def status(voucher: Voucher) -> VoucherStatus:
    return (await Voucher.get(id=voucher.id)).status


async def reversals(voucher: Voucher) -> int:
    return await LedgerEntry.filter(voucher_id=voucher.id, kind=EntryKind.REVERSE).count()


def sent_json(route: respx.Route, index: int = -1) -> dict:
    return json.loads(route.calls[index].request.content)


def expected_shopify_basic(voucher: Voucher, value: dict, items: dict | None = None) -> dict:
    return {
        "query": BASIC,
        "variables": {
            "basicCodeDiscount": {
                "title": "Loyalty reward: £5 off",
                "code": voucher.code,
                "startsAt": "2026-03-02T09:30:00Z",
                "context": {"customers": {"add": ["gid://shopify/Customer/7408011542684"]}},
                "appliesOncePerCustomer": True,
                "usageLimit": 1,
                "customerGets": {"value": value, "items": items or {"all": True}},
            }
        },
    }


# --- Shopify -------------------------------------------------------------------------


async def test_shopify_fixed_amount_goes_live(database_url):
    customer, voucher = await redeemed(Platform.SHOPIFY)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(return_value=shopify_created())
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE

    request = route.calls.last.request
    assert str(request.url) == SHOPIFY_URL
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert sent_json(route) == expected_shopify_basic(
        voucher, {"discountAmount": {"amount": "5.00", "appliesOnEachItem": False}}
    )
    assert await status(voucher) == VoucherStatus.LIVE
    assert await balance(customer) == 300


async def test_shopify_free_product_and_minimum_spend(database_url):
    _, voucher = await redeemed(
        Platform.SHOPIFY, RewardKind.FREE_PRODUCT, product_id="632910392", minimum_spend=2500
    )
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(return_value=shopify_created())
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE

    expected = expected_shopify_basic(
        voucher,
        {"percentage": 1.0},
        {"products": {"productsToAdd": ["gid://shopify/Product/632910392"]}},
    )
    expected["variables"]["basicCodeDiscount"]["minimumRequirement"] = {
        "subtotal": {"greaterThanOrEqualToSubtotal": "25.00"}
    }
    assert sent_json(route) == expected


async def test_shopify_free_shipping_uses_its_own_mutation(database_url):
    _, voucher = await redeemed(Platform.SHOPIFY, RewardKind.FREE_SHIPPING)
    mutation = "discountCodeFreeShippingCreate"
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(return_value=shopify_created(mutation))
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE

    body = sent_json(route)
    assert body["query"] == voucher_push.shopify_admin.MUTATIONS[mutation]
    assert body["variables"]["freeShippingCodeDiscount"] == {
        "title": "Loyalty reward: £5 off",
        "code": voucher.code,
        "startsAt": "2026-03-02T09:30:00Z",
        "context": {"customers": {"add": ["gid://shopify/Customer/7408011542684"]}},
        "appliesOncePerCustomer": True,
        "usageLimit": 1,
        "destination": {"all": True},
    }


@pytest.mark.parametrize(
    "answer",
    [
        shopify_user_errors(
            {"field": ["basicCodeDiscount", "customerGets"], "code": "INVALID", "message": "bad"}
        ),
        httpx.Response(403, json={"errors": "[API] This action requires merchant approval"}),
        httpx.Response(422, json={"errors": "Unprocessable"}),
    ],
    ids=["userErrors", "403", "422"],
)
async def test_shopify_refusal_fails_the_voucher_and_returns_points_once(database_url, answer):
    customer, voucher = await redeemed(Platform.SHOPIFY)
    assert await balance(customer) == 300
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(return_value=answer)
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.FAILED
        # A redelivery, and the exhausted-retries path, change nothing more.
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.FAILED
        assert await voucher_push.fail_voucher(voucher.id, "again") == VoucherStatus.FAILED

    assert route.call_count == 1
    assert await status(voucher) == VoucherStatus.FAILED
    assert await reversals(voucher) == 1
    assert await balance(customer) == 500
    entry = await LedgerEntry.get(voucher_id=voucher.id, kind=EntryKind.REVERSE)
    assert entry.points == 200 and entry.reason.startswith("shopify: ")
    assert entry.idempotency_key == f"voucher:{voucher.id}:failed"


async def test_shopify_code_taken_means_an_earlier_push_got_through(database_url):
    customer, voucher = await redeemed(Platform.SHOPIFY)
    taken = shopify_user_errors(
        {"field": ["basicCodeDiscount", "code"], "code": "TAKEN", "message": "Code must be unique."}
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.post(SHOPIFY_URL).mock(return_value=taken)
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE
    assert await balance(customer) == 300


async def test_shopify_needs_the_customers_shopify_id(database_url):
    customer, voucher = await redeemed(Platform.SHOPIFY, external_id=None)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(SHOPIFY_URL)
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.FAILED
    assert not route.called
    assert await balance(customer) == 500


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [
        (httpx.Response(429, headers={"Retry-After": "2.0"}), None),  # not delta-seconds
        (httpx.Response(503, headers={"Retry-After": "30"}), 30.0),
        (httpx.Response(500), None),
        (
            httpx.Response(
                200,
                json={
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": {
                        "cost": {
                            "requestedQueryCost": 110,
                            "throttleStatus": {"currentlyAvailable": 10, "restoreRate": 50.0},
                        }
                    },
                },
            ),
            2.0,
        ),
    ],
    ids=["429", "503", "500", "throttled"],
)
async def test_shopify_transient_answers_are_retryable(database_url, answer, retry_after):
    customer, voucher = await redeemed(Platform.SHOPIFY)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(SHOPIFY_URL).mock(return_value=answer)
        with pytest.raises(voucher_push.RetryablePushError) as raised:
            await voucher_push.push_voucher(voucher.id)
    assert raised.value.retry_after == retry_after
    assert await status(voucher) == VoucherStatus.PENDING
    assert await balance(customer) == 300


async def test_a_timeout_is_retryable(database_url):
    _, voucher = await redeemed(Platform.SHOPIFY)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(SHOPIFY_URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(voucher_push.RetryablePushError, match="timeout"):
            await voucher_push.push_voucher(voucher.id)
    assert await status(voucher) == VoucherStatus.PENDING


async def test_a_redelivered_task_does_nothing(database_url):
    customer, voucher = await redeemed(Platform.SHOPIFY)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(return_value=shopify_created())
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE
    assert route.call_count == 1
    assert await balance(customer) == 300


async def test_a_shop_without_an_integration_gets_a_live_voucher_at_once(database_url):
    shop = await create_shop("Offline Ltd")
    customer, _ = await upsert_customer(shop.id, CustomerInput(external_id="c1"))
    await ledger.post(customer, EntryKind.ADJUST, points=50, actor="staff:test", reason="setup")
    reward = await Reward.create(
        shop=shop, name="£5 off", kind=RewardKind.FIXED_AMOUNT, points_cost=20, amount=500
    )
    assert (await rewards.redeem(customer, reward.id)).status == VoucherStatus.LIVE


# --- WooCommerce ---------------------------------------------------------------------


def woo_created(code: str) -> httpx.Response:
    return httpx.Response(201, json={"id": 720, "code": code.lower()})


def assert_woo_request(route: respx.Route, expected: dict) -> None:
    request = route.calls.last.request
    assert str(request.url) == WOO_URL
    basic = base64.b64encode(b"ck_live:cs_secret").decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert json.loads(request.content) == expected


def woo_common(voucher: Voucher) -> dict:
    return {
        "code": voucher.code,
        "description": "Loyalty reward: £5 off",
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "email_restrictions": ["ann@example.com"],
    }


async def test_woocommerce_fixed_amount_goes_live(database_url):
    customer, voucher = await redeemed(Platform.WOOCOMMERCE)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(WOO_URL).mock(return_value=woo_created(voucher.code))
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE

    assert_woo_request(
        route, woo_common(voucher) | {"discount_type": "fixed_cart", "amount": "5.00"}
    )
    assert await balance(customer) == 300


async def test_woocommerce_percentage(database_url):
    _, voucher = await redeemed(Platform.WOOCOMMERCE, RewardKind.PERCENTAGE, percentage=15)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(WOO_URL).mock(return_value=woo_created(voucher.code))
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE

    assert_woo_request(route, woo_common(voucher) | {"discount_type": "percent", "amount": "15"})


async def test_woocommerce_refusal_fails_the_voucher(database_url):
    customer, voucher = await redeemed(Platform.WOOCOMMERCE)
    refusal = httpx.Response(
        400, json={"code": "rest_invalid_param", "message": "Invalid parameter(s): amount"}
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.post(WOO_URL).mock(return_value=refusal)
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.FAILED
    assert await balance(customer) == 500
    entry = await LedgerEntry.get(voucher_id=voucher.id, kind=EntryKind.REVERSE)
    assert entry.reason == "woocommerce: HTTP 400 Invalid parameter(s): amount"


async def test_woocommerce_code_exists_means_live(database_url):
    _, voucher = await redeemed(Platform.WOOCOMMERCE)
    exists = httpx.Response(
        400,
        json={
            "code": "woocommerce_rest_coupon_code_already_exists",
            "message": "The coupon code already exists",
            "data": {"status": 400},
        },
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.post(WOO_URL).mock(return_value=exists)
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE


async def test_woocommerce_needs_an_email(database_url):
    customer, voucher = await redeemed(Platform.WOOCOMMERCE, email=None)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(WOO_URL)
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.FAILED
    assert not route.called
    assert await balance(customer) == 500


# --- the actor -----------------------------------------------------------------------


class Delays(Middleware):
    """Remembers (actor name, delay in ms) of every enqueue."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None]] = []

    def after_enqueue(self, broker: Broker, message, delay) -> None:
        self.sent.append((message.actor_name, delay))


@pytest.fixture
def delays() -> Delays:
    return Delays()


@pytest.fixture
def voucher_broker(database_url: str, delays: Delays) -> Iterator[StubBroker]:
    broker = build_broker(None, database_url)
    assert isinstance(broker, StubBroker)
    broker.add_middleware(delays)
    previous = {actor: actor.broker for actor in vouchers.ACTORS}
    for actor in vouchers.ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        yield broker
    finally:
        worker.stop()
        for actor, original in previous.items():
            actor.broker = original


async def test_actor_waits_as_long_as_retry_after_then_goes_live(voucher_broker, delays):
    customer, voucher = await redeemed(Platform.SHOPIFY)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "1"}),
                shopify_created(),
            ]
        )
        vouchers.push_voucher_to_shop.send(voucher.id)
        voucher_broker.join(vouchers.QUEUE)

    assert route.call_count == 2
    assert sent_json(route, 0) == sent_json(route, 1)
    # The worker moves a delayed message back onto the queue with a plain enqueue.
    assert [d for _, d in delays.sent if d is not None] == [1000]
    assert await status(voucher) == VoucherStatus.LIVE
    assert await balance(customer) == 300


async def test_actor_fails_the_voucher_when_retries_run_out(voucher_broker):
    customer, voucher = await redeemed(Platform.SHOPIFY)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(SHOPIFY_URL).mock(return_value=httpx.Response(503))
        vouchers.push_voucher_to_shop.send_with_options(args=(voucher.id,), max_retries=0)
        voucher_broker.join(vouchers.QUEUE, fail_fast=False)

    assert [m.actor_name for m in voucher_broker.dead_letters] == ["push_voucher_to_shop"]
    assert await status(voucher) == VoucherStatus.FAILED
    assert await reversals(voucher) == 1
    assert await balance(customer) == 500


async def test_a_refused_voucher_tells_the_shopper_once(voucher_broker, monkeypatch):
    from loyalty.messaging.models import Message, MessageStatus
    from loyalty.workers import messages

    handed_over: list[int] = []
    monkeypatch.setattr(messages.send_message, "send", handed_over.append)
    customer, voucher = await redeemed(Platform.SHOPIFY)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(SHOPIFY_URL).mock(return_value=httpx.Response(403, json={"errors": "no"}))
        vouchers.push_voucher_to_shop.send(voucher.id)
        vouchers.push_voucher_to_shop.send(voucher.id)  # a redelivery
        voucher_broker.join(vouchers.QUEUE)

    assert await status(voucher) == VoucherStatus.FAILED
    notice = await Message.get(customer_id=customer.id)
    assert notice.status == MessageStatus.QUEUED and notice.purpose == "transactional"
    assert notice.to_address == "ann@example.com"
    assert "200 points are back" in notice.body and "500 points" in notice.body
    assert handed_over == [notice.id]


async def test_exhausted_after_a_timeout_that_did_create_the_code_stays_live(voucher_broker):
    customer, voucher = await redeemed(Platform.SHOPIFY)
    taken = shopify_user_errors(
        {"field": ["basicCodeDiscount", "code"], "code": "TAKEN", "message": "Code must be unique."}
    )
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(side_effect=[httpx.ReadTimeout("slow"), taken])
        vouchers.push_voucher_to_shop.send_with_options(args=(voucher.id,), max_retries=0)
        voucher_broker.join(vouchers.QUEUE, fail_fast=False)

    assert route.call_count == 2  # the last try, then one look before giving up
    assert await status(voucher) == VoucherStatus.LIVE
    assert await reversals(voucher) == 0
    assert await balance(customer) == 300


# --- withdrawal from the shop --------------------------------------------------------

GID = "gid://shopify/DiscountCodeNode/1057371001"
DELETE = voucher_push.shopify_admin.DELETE_MUTATION


def shopify_deleted(discount_id: str = GID) -> httpx.Response:
    payload = {"deletedCodeDiscountId": discount_id, "userErrors": []}
    return httpx.Response(200, json={"data": {"discountCodeDelete": payload}})


async def live(platform: Platform) -> tuple[Customer, Voucher]:
    """A voucher pushed into the shop, so LIVE with the platform's id for its discount."""
    customer, voucher = await redeemed(platform)
    with respx.mock(assert_all_called=True) as mock:
        if platform == Platform.SHOPIFY:
            mock.post(SHOPIFY_URL).mock(return_value=shopify_created())
        else:
            mock.post(WOO_URL).mock(return_value=woo_created(voucher.code))
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE
    await voucher.refresh_from_db()
    return customer, voucher


async def test_a_push_stores_the_platforms_discount_id(database_url):
    _, shopify = await live(Platform.SHOPIFY)
    assert shopify.platform_discount_id == GID
    _, woo = await live(Platform.WOOCOMMERCE)
    assert woo.platform_discount_id == "720"


async def test_code_already_there_leaves_the_id_unknown(database_url):
    _, voucher = await redeemed(Platform.SHOPIFY)
    taken = shopify_user_errors(
        {"field": ["basicCodeDiscount", "code"], "code": "TAKEN", "message": "Code must be unique."}
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.post(SHOPIFY_URL).mock(return_value=taken)
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.LIVE
    assert (await Voucher.get(id=voucher.id)).platform_discount_id is None


async def test_cancelling_a_live_shopify_voucher_deletes_its_discount(database_url):
    customer, voucher = await live(Platform.SHOPIFY)
    voucher = await rewards.cancel_voucher(voucher, actor="staff:amy")
    assert voucher_push.needs_withdrawal(voucher)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(return_value=shopify_deleted())
        assert await voucher_push.withdraw_voucher(voucher.id) == voucher_push.Withdrawal.DELETED
        # A redelivery has nothing left to withdraw.
        assert await voucher_push.withdraw_voucher(voucher.id) == (
            voucher_push.Withdrawal.NOT_NEEDED
        )

    assert route.call_count == 1
    request = route.calls.last.request
    assert str(request.url) == SHOPIFY_URL
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    assert sent_json(route) == {"query": DELETE, "variables": {"id": GID}}
    assert DELETE.startswith("mutation discountCodeDelete($id: ID!) { discountCodeDelete(id: $id)")
    after = await Voucher.get(id=voucher.id)
    assert after.status == VoucherStatus.CANCELLED and after.platform_discount_id is None
    assert await balance(customer) == 500


async def test_cancelling_a_live_woocommerce_voucher_deletes_its_coupon_for_good(database_url):
    _, voucher = await live(Platform.WOOCOMMERCE)
    await rewards.cancel_voucher(voucher, actor="staff:amy")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.delete(f"{WOO_URL}/720").mock(
            return_value=httpx.Response(200, json={"id": 720, "code": voucher.code.lower()})
        )
        assert await voucher_push.withdraw_voucher(voucher.id) == voucher_push.Withdrawal.DELETED

    request = route.calls.last.request
    assert request.method == "DELETE"
    assert str(request.url) == f"{WOO_URL}/720?force=true"
    basic = base64.b64encode(b"ck_live:cs_secret").decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert request.content == b""
    assert (await Voucher.get(id=voucher.id)).platform_discount_id is None


@pytest.mark.parametrize(
    ("platform", "answer"),
    [
        (
            Platform.WOOCOMMERCE,
            httpx.Response(
                404,
                json={
                    "code": "woocommerce_rest_shop_coupon_invalid_id",
                    "message": "Invalid ID.",
                    "data": {"status": 404},
                },
            ),
        ),
        (Platform.SHOPIFY, httpx.Response(404)),
        (
            Platform.SHOPIFY,
            httpx.Response(
                200,
                json={
                    "data": {
                        "discountCodeDelete": {
                            "deletedCodeDiscountId": None,
                            "userErrors": [
                                {
                                    "field": ["id"],
                                    "code": "INVALID",
                                    "message": "Discount does not exist",
                                }
                            ],
                        }
                    }
                },
            ),
        ),
    ],
    ids=["woocommerce-404", "shopify-404", "shopify-no-such-discount"],
)
async def test_a_discount_already_gone_counts_as_withdrawn(database_url, platform, answer):
    _, voucher = await live(platform)
    await rewards.cancel_voucher(voucher, actor="staff")
    with respx.mock(assert_all_called=True) as mock:
        if platform == Platform.SHOPIFY:
            mock.post(SHOPIFY_URL).mock(return_value=answer)
        else:
            mock.delete(f"{WOO_URL}/720", params={"force": "true"}).mock(return_value=answer)
        outcome = await voucher_push.withdraw_voucher(voucher.id)
    assert outcome == voucher_push.Withdrawal.ALREADY_GONE
    assert (await Voucher.get(id=voucher.id)).platform_discount_id is None


@pytest.mark.parametrize("platform", [Platform.SHOPIFY, Platform.WOOCOMMERCE])
async def test_a_503_on_withdrawal_is_retryable(database_url, platform):
    _, voucher = await live(platform)
    await rewards.cancel_voucher(voucher, actor="staff")
    answer = httpx.Response(503, headers={"Retry-After": "30"})
    with respx.mock(assert_all_called=True) as mock:
        if platform == Platform.SHOPIFY:
            mock.post(SHOPIFY_URL).mock(return_value=answer)
        else:
            mock.delete(f"{WOO_URL}/720", params={"force": "true"}).mock(return_value=answer)
        with pytest.raises(voucher_push.RetryablePushError) as raised:
            await voucher_push.withdraw_voucher(voucher.id)
    assert raised.value.retry_after == 30.0
    stored = await Voucher.get(id=voucher.id)
    assert voucher_push.needs_withdrawal(stored)  # still to do, on the next try


async def test_a_timeout_on_withdrawal_is_retryable(database_url):
    _, voucher = await live(Platform.SHOPIFY)
    await rewards.cancel_voucher(voucher, actor="staff")
    with respx.mock(assert_all_called=True) as mock:
        mock.post(SHOPIFY_URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(voucher_push.RetryablePushError, match="timeout"):
            await voucher_push.withdraw_voucher(voucher.id)
    assert (await Voucher.get(id=voucher.id)).platform_discount_id == GID


async def test_a_live_voucher_is_not_withdrawn(database_url):
    _, voucher = await live(Platform.SHOPIFY)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(SHOPIFY_URL)
        assert await voucher_push.withdraw_voucher(voucher.id) == (
            voucher_push.Withdrawal.NOT_NEEDED
        )
    assert not route.called


async def test_a_voucher_without_a_platform_id_needs_no_withdrawal(database_url):
    shop = await create_shop("Offline Ltd")
    customer, _ = await upsert_customer(shop.id, CustomerInput(external_id="c1"))
    await ledger.post(customer, EntryKind.ADJUST, points=50, actor="staff:test", reason="setup")
    reward = await Reward.create(
        shop=shop, name="£5 off", kind=RewardKind.FIXED_AMOUNT, points_cost=20, amount=500
    )
    voucher = await rewards.cancel_voucher(await rewards.redeem(customer, reward.id), actor="staff")
    assert voucher.status == VoucherStatus.CANCELLED and voucher.platform_discount_id is None
    assert not voucher_push.needs_withdrawal(voucher)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        assert await voucher_push.withdraw_voucher(voucher.id) == (
            voucher_push.Withdrawal.NOT_NEEDED
        )
    assert not route.called


async def test_a_push_completing_after_the_cancel_stores_the_id_and_withdraws(
    voucher_broker, delays
):
    customer, voucher = await redeemed(Platform.SHOPIFY)

    async def cancelled_in_flight(request: httpx.Request) -> httpx.Response:
        # The merchant cancels while Shopify is still creating the code.
        await rewards.cancel_voucher(await Voucher.get(id=voucher.id), actor="staff:amy")
        return shopify_created()

    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SHOPIFY_URL).mock(side_effect=[cancelled_in_flight, shopify_deleted()])
        vouchers.push_voucher_to_shop.send(voucher.id)
        voucher_broker.join(vouchers.QUEUE)

    assert route.call_count == 2
    assert sent_json(route, 0)["query"] == BASIC
    assert sent_json(route, 1) == {"query": DELETE, "variables": {"id": GID}}
    assert [name for name, _ in delays.sent] == [
        "push_voucher_to_shop",
        "withdraw_voucher_from_shop",
    ]
    after = await Voucher.get(id=voucher.id)
    assert after.status == VoucherStatus.CANCELLED and after.platform_discount_id is None
    assert await reversals(voucher) == 1
    assert await balance(customer) == 500


async def test_a_woocommerce_push_after_the_cancel_answers_withdraw(database_url):
    customer, voucher = await redeemed(Platform.WOOCOMMERCE)

    async def cancelled_in_flight(request: httpx.Request) -> httpx.Response:
        await rewards.cancel_voucher(await Voucher.get(id=voucher.id), actor="staff")
        return woo_created(voucher.code)

    with respx.mock(assert_all_called=True) as mock:
        mock.post(WOO_URL).mock(side_effect=cancelled_in_flight)
        assert await voucher_push.push_voucher(voucher.id) == voucher_push.WITHDRAW
        # A redelivery of the push does nothing more, the withdrawal was asked for once.
        assert await voucher_push.push_voucher(voucher.id) == VoucherStatus.CANCELLED

    after = await Voucher.get(id=voucher.id)
    assert after.status == VoucherStatus.CANCELLED and after.platform_discount_id == "720"
    assert await balance(customer) == 500


async def test_withdrawal_actor_retries_after_a_503(voucher_broker, delays):
    _, voucher = await live(Platform.WOOCOMMERCE)
    await rewards.cancel_voucher(voucher, actor="staff")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.delete(f"{WOO_URL}/720", params={"force": "true"}).mock(
            side_effect=[
                httpx.Response(503, headers={"Retry-After": "1"}),
                httpx.Response(200, json={"id": 720}),
            ]
        )
        vouchers.withdraw_voucher_from_shop.send(voucher.id)
        voucher_broker.join(vouchers.QUEUE)

    assert route.call_count == 2
    assert [d for _, d in delays.sent if d is not None] == [1000]
    assert (await Voucher.get(id=voucher.id)).platform_discount_id is None
