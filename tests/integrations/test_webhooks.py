"""Shop webhooks end to end through HTTP, signed the way each platform signs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from loyalty.config import Settings
from loyalty.customers.models import Customer
from loyalty.integrations import webhooks
from loyalty.integrations.models import DeliveryStatus, Integration, Platform, WebhookDelivery
from loyalty.programme import ledger
from loyalty.programme.models import Order, OrderStatus, Programme
from loyalty.shops.service import create_shop
from loyalty.web import create_app

SECRET = "test-webhook-secret"


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class Hooks:
    """Posts deliveries and plays the worker: processes whatever was enqueued."""

    def __init__(self, http: httpx.AsyncClient, shop_public_id: str) -> None:
        self.http = http
        self.shop = shop_public_id
        self.queue: list[int] = []

    async def shopify(self, topic: str, body: bytes, delivery: str, **headers: str):
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(body),
            "X-Shopify-Webhook-Id": delivery,
            "X-Shopify-Shop-Domain": "example.myshopify.com",
            "Content-Type": "application/json",
            **headers,
        }
        return await self.http.post(f"/webhooks/shopify/{self.shop}", content=body, headers=headers)

    async def woocommerce(self, topic: str, body: bytes, delivery: str):
        headers = {
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Signature": sign(body),
            "X-WC-Webhook-Delivery-ID": delivery,
            "Content-Type": "application/json",
        }
        return await self.http.post(
            f"/webhooks/woocommerce/{self.shop}", content=body, headers=headers
        )

    async def work(self) -> list[DeliveryStatus]:
        done = [await webhooks.process(delivery_id) for delivery_id in self.queue]
        self.queue.clear()
        return done


@pytest.fixture
async def shop(database_url):
    shop = await create_shop("Hooks", currency="USD")
    await Programme.filter(shop_id=shop.id).update(approval_days=0)
    for platform in (Platform.SHOPIFY, Platform.WOOCOMMERCE):
        await Integration.create(shop=shop, platform=platform, webhook_secret=SECRET)
    return shop


@pytest.fixture
async def hooks(shop, database_url) -> AsyncIterator[Hooks]:
    queue: list[int] = []
    app = create_app(Settings(database_url=database_url), manage_db=False, enqueue=queue.append)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        client = Hooks(http, shop.public_id)
        client.queue = queue
        yield client


def paid_order(fixtures_dir: Path, **changes) -> bytes:
    """The real Shopify order, marked paid (the sample is only authorised)."""
    order = json.loads((fixtures_dir / "shopify_order_webhook_body.json").read_text())
    order.update(financial_status="paid", **changes)
    return json.dumps(order).encode()


async def balance(external_id: str) -> int:
    customer = await Customer.get(external_id=external_id)
    assert (await ledger.check_balance(customer.id)).ok
    return customer.points_balance


async def test_stored_fixture_bytes_verify_and_earn(hooks, fixtures_dir):
    raw = (fixtures_dir / "shopify_order_webhook_body.json").read_bytes()
    assert sign(raw) == "N820PrPm5S7AEBAveJXE5YZFnwd7WSpLRe+5pEkL6iw="  # SOURCES.md
    response = await hooks.shopify("orders/create", raw, "d-1")
    assert response.status_code == 202
    assert await hooks.work() == [DeliveryStatus.PROCESSED]
    order = await Order.get(external_id="450789469")
    assert order.status == OrderStatus.PENDING and order.points_awarded == 0  # authorised only
    response = await hooks.shopify("orders/paid", paid_order(fixtures_dir), "d-2")
    assert response.status_code == 202
    await hooks.work()
    assert await balance("207119551") == 398  # $398.00 of goods, tax excluded


async def test_tampered_and_missing_signatures_are_refused(hooks, fixtures_dir, caplog):
    body = paid_order(fixtures_dir)
    tampered = body.replace(b'"398.00"', b'"998.00"')
    headers = {"X-Shopify-Hmac-Sha256": sign(body)}
    response = await hooks.shopify("orders/paid", tampered, "t-1", **headers)
    assert response.status_code == 401
    missing = await hooks.http.post(
        f"/webhooks/shopify/{hooks.shop}",
        content=body,
        headers={"X-Shopify-Topic": "orders/paid", "X-Shopify-Webhook-Id": "t-2"},
    )
    assert missing.status_code == 401
    wrong_secret = await hooks.shopify(
        "orders/paid", body, "t-3", **{"X-Shopify-Hmac-Sha256": sign(body, "other")}
    )
    assert wrong_secret.status_code == 401
    assert await WebhookDelivery.all().count() == 0
    assert hooks.queue == []
    assert "bad signature" in caplog.text and "missing signature" in caplog.text


@pytest.mark.both_dbs
async def test_duplicate_delivery_has_no_second_effect(hooks, fixtures_dir):
    body = paid_order(fixtures_dir)
    assert (await hooks.shopify("orders/paid", body, "dup-1")).status_code == 202
    assert (await hooks.shopify("orders/paid", body, "dup-1")).status_code == 200
    await hooks.work()
    assert await WebhookDelivery.all().count() == 1
    assert await balance("207119551") == 398


@pytest.mark.both_dbs
async def test_refund_before_its_order_and_partial_refund(hooks, fixtures_dir):
    refund = (fixtures_dir / "shopify_refund_webhook_body.json").read_bytes()
    await hooks.shopify("refunds/create", refund, "r-1")
    assert await hooks.work() == [DeliveryStatus.WAITING]
    await hooks.shopify("orders/create", paid_order(fixtures_dir), "o-1")
    assert await hooks.work() == [DeliveryStatus.PROCESSED]
    delivery = await WebhookDelivery.get(delivery_id="r-1")
    assert delivery.status == DeliveryStatus.PROCESSED
    order = await Order.get(external_id="450789469")
    assert order.refunded == 20900
    # $209.00 of a $409.94 order refunded: 398 - floor(398 * 20900 / 40994) = 196 points left
    assert await balance("207119551") == 398 - (398 * 20900) // 40994
    await hooks.shopify("refunds/create", refund, "r-1-again")  # same refund, new delivery id
    await hooks.work()
    assert await balance("207119551") == 398 - (398 * 20900) // 40994


async def test_cancelled_order_reverses_points(hooks, fixtures_dir):
    await hooks.shopify("orders/paid", paid_order(fixtures_dir), "c-1")
    await hooks.work()
    cancelled = paid_order(fixtures_dir, cancelled_at="2008-01-11T10:00:00-05:00")
    await hooks.shopify("orders/cancelled", cancelled, "c-2")
    await hooks.work()
    assert (await Order.get(external_id="450789469")).status == OrderStatus.CANCELLED
    assert await balance("207119551") == 0


async def test_id_beyond_2_pow_53_stays_exact(hooks, fixtures_dir):
    body = paid_order(fixtures_dir).replace(b'"id": 450789469', b'"id": 820982911946154508', 1)
    await hooks.shopify("orders/paid", body, "big-1")
    assert await hooks.work() == [DeliveryStatus.PROCESSED]
    assert await Order.filter(external_id="820982911946154508").exists()


async def test_woocommerce_guest_order_ping_and_refund(hooks, fixtures_dir):
    ping = await hooks.http.post(
        f"/webhooks/woocommerce/{hooks.shop}",
        content=b"webhook_id=15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ping.status_code == 200 and hooks.queue == []
    raw = (fixtures_dir / "woocommerce_order.json").read_bytes()
    assert sign(raw) == "cjMKAZWk/36Ge5QPbmyJrTHjJ2cenkpqI+zP1MqnYy0="
    assert (await hooks.woocommerce("order.created", raw, "w-1")).status_code == 202
    assert await hooks.work() == [DeliveryStatus.PROCESSED]
    guest = await Customer.get(email="john.doe@example.com")
    assert guest.external_id is None and guest.phone is None  # "(555) 555-5555" is unreadable
    assert guest.points_balance == 18  # $18.00 of goods
    refunded = json.loads(raw)
    refunded.update(status="refunded", refunds=[{"id": 726, "reason": "", "total": "-29.35"}])
    await hooks.woocommerce("order.updated", json.dumps(refunded).encode(), "w-2")
    await hooks.work()
    await guest.refresh_from_db()
    assert guest.points_balance == 0


async def test_processing_failure_is_stored_and_replayed(hooks, fixtures_dir, monkeypatch):
    real = webhooks.orders.record_order

    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(webhooks.orders, "record_order", broken)
    await hooks.shopify("orders/paid", paid_order(fixtures_dir), "f-1")
    with pytest.raises(RuntimeError):
        await hooks.work()
    stored = await WebhookDelivery.get(delivery_id="f-1")
    assert stored.status == DeliveryStatus.FAILED
    assert stored.error == "RuntimeError: database went away"
    assert not await Order.exists()

    monkeypatch.setattr(webhooks.orders, "record_order", real)
    assert await webhooks.replay() == [stored.id]
    await stored.refresh_from_db()
    assert stored.status == DeliveryStatus.PROCESSED and stored.attempts == 2
    assert await balance("207119551") == 398
    assert await webhooks.replay() == []


async def test_unknown_shop_or_unconfigured_platform(hooks, fixtures_dir):
    body = paid_order(fixtures_dir)
    response = await hooks.http.post(
        "/webhooks/shopify/nope", content=body, headers={"X-Shopify-Hmac-Sha256": sign(body)}
    )
    assert response.status_code == 404


def opted_in_order(fixtures_dir: Path, updated_at: str) -> bytes:
    """The modern Shopify order whose customer opted in to email (the sample did not)."""
    order = json.loads((fixtures_dir / "shopify_order_modern.json").read_text())
    order["customer"]["email_marketing_consent"] = {
        "state": "subscribed",
        "opt_in_level": "confirmed_opt_in",
        "consent_updated_at": updated_at,
    }
    return json.dumps(order).encode()


async def test_explicit_shop_opt_in_is_kept_as_consent_evidence(hooks, fixtures_dir):
    from loyalty.consent.models import Channel, ConsentEvent, ConsentSource, ConsentStatus, Purpose
    from loyalty.consent.service import can_send, get_state, unsubscribe

    sample = (fixtures_dir / "shopify_order_modern.json").read_bytes()
    await hooks.shopify("orders/updated", sample, "m-0")  # reports no opt-in
    await hooks.work()
    customer = await Customer.get(external_id="207119551")
    assert await get_state(customer, Channel.EMAIL, Purpose.MARKETING) is None

    await hooks.shopify(
        "orders/updated", opted_in_order(fixtures_dir, "2026-01-02T10:00:00Z"), "m-1"
    )
    await hooks.work()
    state = await get_state(customer, Channel.EMAIL, Purpose.MARKETING)
    assert state.status == ConsentStatus.SUBSCRIBED
    event = await ConsentEvent.get(customer_id=customer.id)
    assert event.source == "checkout"
    assert event.evidence["opt_in_level"] == "confirmed_opt_in"
    assert event.evidence["webhook_delivery"] == "m-1"
    assert (await can_send(customer, Channel.EMAIL, Purpose.MARKETING)).allowed
    sms = await get_state(customer, Channel.SMS, Purpose.MARKETING)
    assert sms is None  # the shop reported sms as not_subscribed: nothing inferred

    await unsubscribe(customer, Channel.EMAIL, source=ConsentSource.UNSUBSCRIBE_LINK)
    await hooks.shopify(
        "orders/updated", opted_in_order(fixtures_dir, "2026-01-02T10:00:00Z"), "m-2"
    )
    await hooks.work()
    state = await get_state(customer, Channel.EMAIL, Purpose.MARKETING)
    assert state.status == ConsentStatus.UNSUBSCRIBED  # our newer opt-out wins


async def test_a_waiting_refund_goes_through_once_its_order_came_another_way(hooks, fixtures_dir):
    from datetime import timedelta

    from loyalty.programme.inputs import CustomerInput, OrderInput

    refund = (fixtures_dir / "shopify_refund_webhook_body.json").read_bytes()
    await hooks.shopify("refunds/create", refund, "r-9")
    assert await hooks.work() == [DeliveryStatus.WAITING]
    shop_id = (await WebhookDelivery.get(delivery_id="r-9")).shop_id
    await webhooks.orders.record_order(  # the order arrives by syncOrders, not a webhook
        shop_id,
        OrderInput(
            external_id="450789469",
            currency="USD",
            subtotal=39800,
            tax=1194,
            status=OrderStatus.PAID,
            customer=CustomerInput(external_id="207119551", email="bob.norman@hostmail.com"),
        ),
    )
    stalled = await webhooks.stalled(timedelta(0))
    assert [await webhooks.process(i) for i in stalled] == [DeliveryStatus.PROCESSED]
    assert (await Order.get(external_id="450789469")).refunded == 20900
