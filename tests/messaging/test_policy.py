"""The sending policy, applied at send time: consent, quiet hours, smart sending, suppression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty import clock
from loyalty.consent import service as consent
from loyalty.consent.models import Channel, ConsentSource, Purpose
from loyalty.messaging import service
from loyalty.messaging.models import (
    Message,
    MessageStatus,
    MessagingSettings,
    Suppression,
    SuppressionReason,
)
from loyalty.messaging.policy import quiet_until
from tests.messaging.conftest import LINKS, NOON, make_customer


async def queue(customer, channel=Channel.SMS, purpose=Purpose.MARKETING, **kwargs) -> Message:
    content = kwargs.pop("content", "Hi {{ first_name }}, you have {{ points_balance }} points")
    subject = "Your points" if channel is Channel.EMAIL else None
    return await service.queue_message(
        customer,
        channel,
        purpose,
        content=content,
        subject=subject,
        source="flow:1",
        link_settings=LINKS,
        **kwargs,
    )


async def deliver(message: Message, channels) -> Message:
    await service.deliver(message.id, channels, link_settings=LINKS)
    return await Message.get(id=message.id)


async def test_marketing_without_consent_is_skipped(shop, fakes):
    customer = await make_customer(shop, subscribed=())
    message = await deliver(await queue(customer), fakes)

    assert (message.status, message.reason) == (MessageStatus.SKIPPED, "consent:no_consent")
    assert fakes[Channel.SMS].sent == []


async def test_unsubscribed_while_waiting_in_the_queue_is_skipped(shop, fakes):
    customer = await make_customer(shop)
    queued = await queue(customer)
    assert queued.status == MessageStatus.QUEUED

    await consent.unsubscribe(customer, Channel.SMS, source=ConsentSource.API)
    message = await deliver(queued, fakes)

    assert (message.status, message.reason) == (MessageStatus.SKIPPED, "consent:unsubscribed")
    assert fakes[Channel.SMS].sent == []


async def test_transactional_needs_no_marketing_opt_in(shop, fakes):
    customer = await make_customer(shop, subscribed=())
    message = await queue(
        customer,
        purpose=Purpose.TRANSACTIONAL,
        content="Your code: {{ voucher_code }}",
        voucher_code="SAVE-5QX2",
    )

    message = await deliver(message, fakes)

    assert message.status == MessageStatus.SENT
    assert [m.body for m in fakes[Channel.SMS].sent] == ["Your code: SAVE-5QX2"]


async def test_transactional_stops_when_that_purpose_is_unsubscribed(shop, fakes):
    customer = await make_customer(shop)
    await consent.unsubscribe(
        customer, Channel.SMS, (Purpose.TRANSACTIONAL,), source=ConsentSource.API
    )
    message = await deliver(await queue(customer, purpose=Purpose.TRANSACTIONAL), fakes)

    assert (message.status, message.reason) == (MessageStatus.SKIPPED, "consent:unsubscribed")


async def test_suppressed_address_is_skipped(shop, fakes):
    customer = await make_customer(shop)
    await Suppression.create(
        shop=shop, channel=Channel.SMS, address=customer.phone, reason=SuppressionReason.MANUAL
    )
    message = await deliver(await queue(customer), fakes)

    assert (message.status, message.reason) == (MessageStatus.SKIPPED, "suppressed:manual")
    # Another channel of the same customer is not affected.
    email = await deliver(await queue(customer, Channel.EMAIL), fakes)
    assert email.status == MessageStatus.SENT


async def test_no_address_is_recorded_as_skipped(shop):
    customer = await make_customer(shop, phone=None)
    message = await queue(customer)

    assert (message.status, message.reason, message.to_address) == (
        MessageStatus.SKIPPED,
        "no_address",
        "",
    )


async def test_quiet_hours_across_midnight_defer_to_eight(shop, fakes):
    customer = await make_customer(shop)
    clock.set_now(datetime(2026, 6, 1, 21, 30, tzinfo=UTC))  # 22:30 BST
    message = await deliver(await queue(customer), fakes)

    assert (message.status, message.reason) == (MessageStatus.DEFERRED, "quiet_hours")
    assert message.send_after == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 08:00 BST
    assert fakes[Channel.SMS].sent == []
    assert await service.due_messages(clock.now()) == []

    clock.set_now(datetime(2026, 6, 1, 23, 45, tzinfo=UTC))  # 00:45 BST, after midnight
    assert await service.deliver(message.id, fakes, link_settings=LINKS) == (
        MessageStatus.DEFERRED  # not due yet: not even claimed
    )

    clock.set_now(datetime(2026, 6, 2, 7, 0, tzinfo=UTC))
    assert await service.due_messages(clock.now()) == [message.id]
    message = await deliver(message, fakes)
    assert message.status == MessageStatus.SENT
    assert len(fakes[Channel.SMS].sent) == 1


async def test_after_midnight_defers_to_the_same_morning(shop, fakes):
    customer = await make_customer(shop)
    clock.set_now(datetime(2026, 6, 1, 23, 30, tzinfo=UTC))  # 00:30 BST on 2 June
    message = await deliver(await queue(customer), fakes)

    assert message.send_after == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)


async def test_quiet_hours_across_the_october_clock_change(shop, fakes):
    """Clocks go back at 02:00 BST on Sunday 25 October 2026: 08:00 is then 08:00 UTC."""
    customer = await make_customer(shop)  # no time zone: Europe/London
    clock.set_now(datetime(2026, 10, 24, 20, 30, tzinfo=UTC))  # 21:30 BST on Saturday
    evening = await deliver(await queue(customer), fakes)
    assert evening.status == MessageStatus.DEFERRED
    assert evening.send_after == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)

    # 07:30 GMT on Sunday: still quiet (a fixed +1 h offset would think it 08:30).
    clock.set_now(datetime(2026, 10, 25, 7, 30, tzinfo=UTC))
    morning = await deliver(await queue(customer, idempotency_key="second"), fakes)
    assert morning.status == MessageStatus.DEFERRED
    assert morning.send_after == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)

    clock.set_now(datetime(2026, 10, 25, 8, 0, tzinfo=UTC))
    assert (await deliver(evening, fakes)).status == MessageStatus.SENT
    assert (await deliver(morning, fakes)).status == MessageStatus.SKIPPED  # smart sending


def test_quiet_until_handles_both_clock_changes():
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    # Spring forward (29 March 2026): 08:00 BST is 07:00 UTC.
    assert quiet_until(
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC), london, "21:00", "08:00"
    ) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    # Not quiet at 12:00, and no quiet hours at all when start equals end.
    assert quiet_until(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), london, "21:00", "08:00") is None
    assert quiet_until(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), london, "08:00", "08:00") is None
    # A daytime window (start before end) works too.
    assert quiet_until(
        datetime(2026, 3, 28, 13, 0, tzinfo=UTC), london, "12:00", "14:00"
    ) == datetime(2026, 3, 28, 14, 0, tzinfo=UTC)


async def test_customer_time_zone_elsewhere(shop, fakes):
    tokyo = await make_customer(shop, "tokyo", time_zone="Asia/Tokyo")
    new_york = await make_customer(shop, "ny", time_zone="America/New_York", phone="07911 123457")
    clock.set_now(datetime(2026, 6, 1, 13, 0, tzinfo=UTC))  # 22:00 in Tokyo, 14:00 London

    deferred = await deliver(await queue(tokyo), fakes)
    assert deferred.status == MessageStatus.DEFERRED
    assert deferred.send_after == datetime(2026, 6, 1, 23, 0, tzinfo=UTC)  # 08:00 JST

    clock.set_now(datetime(2026, 6, 1, 23, 0, tzinfo=UTC))  # 00:00 London, 19:00 New York
    sent = await deliver(await queue(new_york), fakes)
    assert sent.status == MessageStatus.SENT


async def test_quiet_hours_follow_the_shop_settings(shop, fakes):
    customer = await make_customer(shop)
    await MessagingSettings.create(shop=shop, quiet_start="20:00", quiet_end="09:30")
    clock.set_now(datetime(2026, 6, 1, 19, 15, tzinfo=UTC))  # 20:15 BST
    message = await deliver(await queue(customer), fakes)

    assert message.send_after == datetime(2026, 6, 2, 8, 30, tzinfo=UTC)


async def test_transactional_is_not_held_by_quiet_hours(shop, fakes):
    customer = await make_customer(shop)
    clock.set_now(datetime(2026, 6, 1, 22, 0, tzinfo=UTC))  # 23:00 BST
    message = await deliver(await queue(customer, purpose=Purpose.TRANSACTIONAL), fakes)

    assert message.status == MessageStatus.SENT


async def test_smart_sending_per_channel(shop, fakes):
    customer = await make_customer(shop)
    # No quiet hours (start equals end), so the windows alone decide at any hour.
    await MessagingSettings.create(shop=shop, quiet_start="00:00", quiet_end="00:00")
    first = await deliver(await queue(customer, idempotency_key="sms-1"), fakes)
    assert first.status == MessageStatus.SENT

    clock.set_now(NOON + timedelta(hours=23))
    second = await deliver(await queue(customer, idempotency_key="sms-2"), fakes)
    assert (second.status, second.reason) == (MessageStatus.SKIPPED, "smart_sending:sms:24h")

    # Another channel has its own window; a transactional SMS is never held back.
    email = await deliver(await queue(customer, Channel.EMAIL, idempotency_key="em-1"), fakes)
    assert email.status == MessageStatus.SENT
    receipt = await deliver(
        await queue(customer, purpose=Purpose.TRANSACTIONAL, idempotency_key="tx"), fakes
    )
    assert receipt.status == MessageStatus.SENT

    clock.set_now(NOON + timedelta(hours=24, minutes=1))
    third = await deliver(await queue(customer, idempotency_key="sms-3"), fakes)
    assert third.status == MessageStatus.SENT

    # Email's window is 16 hours.
    clock.set_now(NOON + timedelta(hours=23 + 15))
    skipped = await deliver(await queue(customer, Channel.EMAIL, idempotency_key="em-2"), fakes)
    assert skipped.reason == "smart_sending:email:16h"
    clock.set_now(NOON + timedelta(hours=23 + 16, minutes=1))
    sent = await deliver(await queue(customer, Channel.EMAIL, idempotency_key="em-3"), fakes)
    assert sent.status == MessageStatus.SENT


async def test_smart_sending_windows_are_configurable(shop, fakes):
    customer = await make_customer(shop)
    await MessagingSettings.create(shop=shop, sms_window_hours=0)
    for n in range(3):
        message = await deliver(await queue(customer, idempotency_key=f"k{n}"), fakes)
        assert message.status == MessageStatus.SENT


async def test_cross_channel_cap(shop, fakes):
    customer = await make_customer(shop)
    await MessagingSettings.create(shop=shop, cross_channel_window_hours=48)
    sms = await deliver(await queue(customer), fakes)
    assert sms.status == MessageStatus.SENT

    clock.set_now(NOON + timedelta(hours=30))
    email = await deliver(await queue(customer, Channel.EMAIL), fakes)
    whatsapp = await deliver(await queue(customer, Channel.WHATSAPP), fakes)
    assert (email.status, email.reason) == (
        MessageStatus.SKIPPED,
        "smart_sending:all_channels:48h",
    )
    assert whatsapp.reason == "smart_sending:all_channels:48h"

    clock.set_now(NOON + timedelta(hours=49))
    later = await deliver(await queue(customer, Channel.EMAIL, idempotency_key="later"), fakes)
    assert later.status == MessageStatus.SENT
