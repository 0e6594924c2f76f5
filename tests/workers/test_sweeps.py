"""Lost tasks are found and sent again; nothing that is in hand is touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty import clock
from loyalty.consent.models import Channel
from loyalty.integrations.models import DeliveryStatus, Platform, WebhookDelivery
from loyalty.messaging.inbound import MAX_INBOUND_ATTEMPTS
from loyalty.messaging.models import InboundMessage, InboundStatus
from loyalty.programme.inputs import CustomerInput
from loyalty.programme.members import sync_customer
from loyalty.programme.models import Reward, RewardKind, Voucher, VoucherStatus
from loyalty.shops.service import create_shop
from loyalty.workers import sweeps

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


async def test_stalled_deliveries_and_vouchers_are_sent_again(stub_broker, recorder):
    shop = await create_shop("Sweep")
    customer, _ = await sync_customer(shop.id, CustomerInput(external_id="c", email="c@x.io"))
    reward = await Reward.create(
        shop=shop, name="£5", kind=RewardKind.FIXED_AMOUNT, points_cost=10, amount=500
    )

    async def delivery(name: str, status: DeliveryStatus, age: timedelta) -> int:
        row = await WebhookDelivery.create(
            shop=shop,
            platform=Platform.SHOPIFY,
            topic="orders/paid",
            delivery_id=name,
            body="{}",
            status=status,
        )
        await WebhookDelivery.filter(id=row.id).update(received_at=NOW - age)
        return row.id

    async def voucher(code: str, status: VoucherStatus, age: timedelta) -> int:
        row = await Voucher.create(
            shop=shop, customer=customer, reward=reward, code=code, points_spent=10, status=status
        )
        await Voucher.filter(id=row.id).update(created_at=NOW - age)
        return row.id

    lost = await delivery("lost", DeliveryStatus.RECEIVED, timedelta(minutes=30))
    await delivery("fresh", DeliveryStatus.RECEIVED, timedelta(minutes=1))
    await delivery("failed", DeliveryStatus.FAILED, timedelta(hours=3))
    waiting = await delivery("waiting", DeliveryStatus.WAITING, timedelta(hours=1))
    stuck = await voucher("A", VoucherStatus.PENDING, timedelta(hours=2))
    await voucher("B", VoucherStatus.PENDING, timedelta(minutes=10))
    await voucher("C", VoucherStatus.LIVE, timedelta(hours=2))

    clock.set_now(NOW)
    await sweeps._resend_stalled_work()
    assert sorted(recorder.sent) == [
        ("process_webhook", (lost,)),
        ("process_webhook", (waiting,)),
        ("push_voucher_to_shop", (stuck,)),
    ]


async def test_failed_inbound_messages_are_processed_again_a_bounded_number_of_times(
    stub_broker, recorder
):
    shop = await create_shop("Sweep")

    async def message(sid: str, status: InboundStatus, age: timedelta, attempts: int) -> int:
        row = await InboundMessage.create(
            shop=shop,
            message_sid=sid,
            channel=Channel.SMS,
            from_address="+447911123456",
            to_address="+447700900100",
            body="STOP",
            params={"MessageSid": sid, "Body": "STOP", "From": "+447911123456"},
            status=status,
            attempts=attempts,
            error="OperationalError: database is locked" if status == "failed" else None,
        )
        await InboundMessage.filter(id=row.id).update(received_at=NOW - age)
        return row.id

    old = await message("SMold", InboundStatus.FAILED, timedelta(minutes=30), 1)
    fresh = await message("SMfresh", InboundStatus.FAILED, timedelta(minutes=1), 1)
    spent = await message("SMspent", InboundStatus.FAILED, timedelta(hours=2), MAX_INBOUND_ATTEMPTS)
    done = await message("SMdone", InboundStatus.PROCESSED, timedelta(hours=2), 1)

    clock.set_now(NOW)
    await sweeps._resend_stalled_work()
    assert recorder.sent == []  # processed in place, nothing enqueued
    rows = {row.id: row for row in await InboundMessage.all()}
    assert (rows[old].status, rows[old].attempts, rows[old].error) == (
        InboundStatus.PROCESSED,
        2,
        None,
    )
    assert (rows[fresh].status, rows[fresh].attempts) == (InboundStatus.FAILED, 1)
    assert (rows[spent].status, rows[spent].attempts) == (
        InboundStatus.FAILED,
        MAX_INBOUND_ATTEMPTS,
    )
    assert (rows[done].status, rows[done].attempts) == (InboundStatus.PROCESSED, 1)
