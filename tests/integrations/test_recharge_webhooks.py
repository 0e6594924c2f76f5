"""Recharge deliveries through HTTP: subscriptions on the profile, paid charges earn once."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest

from loyalty.config import Settings
from loyalty.customers.models import Customer
from loyalty.integrations import webhooks
from loyalty.integrations.models import (
    DeliveryStatus,
    Integration,
    Platform,
    Subscription,
    SubscriptionEventRecord,
)
from loyalty.programme.models import Order, Programme
from loyalty.shops.service import create_api_key, create_shop
from loyalty.web import create_app
from tests.graphql.conftest import GraphQLClient
from tests.integrations.test_recharge_mapping import charge

SECRET = "test-webhook-secret"


def legacy_digest(body: bytes) -> str:
    return hashlib.sha256(SECRET.encode() + body).hexdigest()


@pytest.fixture
async def recharge(database_url):
    shop = await create_shop("Subs")
    await Programme.filter(shop_id=shop.id).update(approval_days=0)
    await Integration.create(shop=shop, platform=Platform.RECHARGE, webhook_secret=SECRET)
    queue: list[int] = []
    app = create_app(Settings(database_url=database_url), manage_db=False, enqueue=queue.append)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

        async def post(topic: str, body: bytes, digest: str | None = None):
            response = await http.post(
                f"/webhooks/recharge/{shop.public_id}",
                content=body,
                headers={
                    "X-Recharge-Topic": topic,
                    "X-Recharge-Hmac-Sha256": digest or legacy_digest(body),
                },
            )
            statuses = [await webhooks.process(i) for i in queue]
            queue.clear()
            return response, statuses

        yield shop, post


async def test_subscription_then_paid_charge_earns_and_links(recharge, fixtures_dir):
    shop, post = recharge
    raw = (fixtures_dir / "recharge_subscription.json").read_bytes()
    assert legacy_digest(raw) == (
        "04c3c0959cac1a62b9de731a5f9749f88dae0a26b87300ddb53e463b0e433284"  # SOURCES.md
    )
    response, statuses = await post("subscription/created", raw)
    assert response.status_code == 202 and statuses == [DeliveryStatus.PROCESSED]
    subscription = await Subscription.get(shop_id=shop.id, external_id="123123123")
    assert (subscription.status, subscription.price, subscription.currency) == (
        "active",
        4900,
        "DKK",
    )
    assert subscription.customer_id is None  # Recharge names only its own customer id

    _, statuses = await post("charge/paid", json.dumps(charge()).encode())
    assert statuses == [DeliveryStatus.PROCESSED]
    customer = await Customer.get(shop_id=shop.id, email="sam@example.co.uk")
    assert customer.external_id == "6400000000001"
    # £82.00 goods - £8.20 discount - £12.96 VAT inside the prices = £60.84 -> 60 points
    assert customer.points_balance == 60
    assert await Order.filter(external_id="recharge-580355441").exists()
    await subscription.refresh_from_db()
    assert subscription.customer_id == customer.id
    events = await SubscriptionEventRecord.filter(customer_id=customer.id).order_by("id")
    assert [e.topic for e in events] == ["subscription/created", "charge/paid"]

    cancelled = json.loads(raw)
    cancelled["subscription"]["status"] = "cancelled"
    await post("subscription/cancelled", json.dumps(cancelled).encode())
    await subscription.refresh_from_db()
    assert subscription.status == "cancelled"


async def test_charge_of_a_synced_shop_order_does_not_earn_twice(recharge):
    shop, post = recharge
    await Integration.create(shop=shop, platform=Platform.SHOPIFY, webhook_secret="x")
    _, statuses = await post("charge/paid", json.dumps(charge()).encode())
    assert statuses == [DeliveryStatus.PROCESSED]
    customer = await Customer.get(shop_id=shop.id, email="sam@example.co.uk")
    assert customer.points_balance == 0
    assert not await Order.filter(shop_id=shop.id).exists()
    event = await SubscriptionEventRecord.get(customer_id=customer.id)
    assert event.detail["shop_order_id"] == "5100000000777" and not event.detail["earned_here"]


async def test_bad_recharge_signature_is_refused(recharge, fixtures_dir):
    _, post = recharge
    raw = (fixtures_dir / "recharge_subscription.json").read_bytes()
    response, statuses = await post("subscription/created", raw, digest="0" * 64)
    assert response.status_code == 401 and statuses == []
    assert not await Subscription.exists()


async def test_subscriptions_show_on_the_profile(recharge, fixtures_dir):

    shop, post = recharge
    await post("subscription/created", (fixtures_dir / "recharge_subscription.json").read_bytes())
    await post("charge/paid", json.dumps(charge()).encode())
    key = await create_api_key(shop, "t", ["read"])
    customer = await Customer.get(shop_id=shop.id, email="sam@example.co.uk")
    app = create_app(Settings(database_url="unused"), manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as h:
        data = await GraphQLClient(h).run(
            "query($id: ID!) { customer(id: $id) { subscriptions "
            "{ status productTitle quantity price { amount currency } nextChargeOn } } }",
            {"id": base64.b64encode(f"Customer:{customer.id}".encode()).decode()},
            **{"x-api-key": key.secret},
        )
    assert data["customer"]["subscriptions"] == [
        {
            "status": "active",
            "productTitle": "Vuffeli Prøvepakke",
            "quantity": 3,
            "price": {"amount": "49.00", "currency": "DKK"},
            "nextChargeOn": "2022-12-17",
        }
    ]
