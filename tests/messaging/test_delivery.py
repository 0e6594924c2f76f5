"""Delivering through Twilio (respx at the HTTP edge): claims, errors and their consequences."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
import respx

from loyalty import clock
from loyalty.channels import RetryableSendError
from loyalty.consent.models import (
    Channel,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Purpose,
)
from loyalty.errors import DomainError
from loyalty.messaging import service
from loyalty.messaging.models import Message, MessageStatus, Suppression, SuppressionReason
from tests.messaging.conftest import (
    LINKS,
    MESSAGES_URL,
    NOON,
    SERVICE,
    form,
    make_customer,
    twilio_error,
)


async def queue(customer, channel=Channel.SMS, key=None, **kwargs) -> Message:
    kwargs.setdefault("content", "Hi {{ first_name }}, you have {{ points_balance }} points")
    return await service.queue_message(
        customer,
        channel,
        kwargs.pop("purpose", Purpose.MARKETING),
        idempotency_key=key,
        link_settings=LINKS,
        **kwargs,
    )


async def deliver(message: Message, channels) -> Message:
    await service.deliver(message.id, channels, link_settings=LINKS)
    return await Message.get(id=message.id)


async def test_sent_records_provider_and_id(shop, twilio, respx_mock: respx.MockRouter, created):
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    customer = await make_customer(shop)

    message = await deliver(await queue(customer, source="flow:7"), twilio)

    assert message.status == MessageStatus.SENT
    assert (message.provider, message.provider_id) == ("twilio", created["sid"])
    assert message.sent_at == NOON and message.attempts == 1 and message.source == "flow:7"
    assert form(route.calls.last.request) == {
        "To": ["+447911123456"],
        "MessagingServiceSid": [SERVICE],
        "Body": ["Hi Alice, you have 0 points"],
    }


@pytest.mark.both_dbs
async def test_concurrent_deliveries_send_once(shop, twilio, respx_mock, created):
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    customer = await make_customer(shop)
    message = await queue(customer)

    statuses = await asyncio.gather(
        service.deliver(message.id, twilio, link_settings=LINKS),
        service.deliver(message.id, twilio, link_settings=LINKS),
    )

    assert route.call_count == 1
    assert sorted(statuses) == [MessageStatus.SENDING, MessageStatus.SENT]
    assert (await Message.get(id=message.id)).status == MessageStatus.SENT
    # A late redelivery finds it sent and does nothing.
    assert await service.deliver(message.id, twilio) == MessageStatus.SENT
    assert route.call_count == 1


async def test_repeated_idempotency_key_returns_the_first_message(shop):
    alice = await make_customer(shop)
    bob = await make_customer(shop, "c2", phone="07911 123457")
    first = await queue(alice, key="flow:1:step:2:alice")
    again = await queue(alice, key="flow:1:step:2:alice", content="Something else")

    assert again.id == first.id and again.body == first.body
    assert await Message.filter(shop_id=shop.id).count() == 1
    with pytest.raises(DomainError) as refused:
        await queue(bob, key="flow:1:step:2:alice")
    assert refused.value.code == "IDEMPOTENCY_CONFLICT"


async def test_21610_unsubscribes_with_evidence(shop, twilio, respx_mock):
    respx_mock.post(MESSAGES_URL).respond(
        400, json=twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    )
    customer = await make_customer(shop)

    message = await deliver(await queue(customer), twilio)

    assert (message.status, message.error_code) == (MessageStatus.FAILED, "21610")
    assert message.error_message.endswith("Attempt to send to unsubscribed recipient")
    states = await ConsentState.filter(customer_id=customer.id, channel=Channel.SMS)
    assert {s.purpose: s.status for s in states} == {
        Purpose.MARKETING: ConsentStatus.UNSUBSCRIBED,
        Purpose.TRANSACTIONAL: ConsentStatus.UNSUBSCRIBED,
    }
    event = (
        await ConsentEvent.filter(
            customer_id=customer.id, channel=Channel.SMS, purpose=Purpose.MARKETING
        )
        .order_by("-id")
        .first()
    )
    assert event.source == ConsentSource.PROVIDER_ERROR
    assert event.evidence["provider_error_code"] == "21610"
    assert event.evidence["message_id"] == message.id
    # Email consent is untouched.
    email = await ConsentState.get(customer_id=customer.id, channel=Channel.EMAIL)
    assert email.status == ConsentStatus.SUBSCRIBED


async def test_21211_suppresses_the_number(shop, twilio, respx_mock):
    route = respx_mock.post(MESSAGES_URL).respond(
        400, json=twilio_error(400, 21211, "The 'To' number is not a valid phone number.")
    )
    customer = await make_customer(shop)

    first = await deliver(await queue(customer, key="a"), twilio)
    assert (first.status, first.error_code) == (MessageStatus.FAILED, "21211")
    suppression = await Suppression.get(shop_id=shop.id, channel=Channel.SMS)
    assert (suppression.address, suppression.reason) == (
        "+447911123456",
        SuppressionReason.INVALID_ADDRESS,
    )

    second = await deliver(await queue(customer, key="b", purpose=Purpose.TRANSACTIONAL), twilio)
    assert (second.status, second.reason) == (MessageStatus.SKIPPED, "suppressed:invalid_address")
    assert route.call_count == 1


async def test_three_consecutive_30003_suppress(shop, twilio, respx_mock, created):
    route = respx_mock.post(MESSAGES_URL)
    route.side_effect = [
        httpx.Response(400, json=twilio_error(400, 30003, "Unreachable destination handset")),
        httpx.Response(201, json=created),  # a delivery breaks the run
        httpx.Response(400, json=twilio_error(400, 30003, "Unreachable destination handset")),
        httpx.Response(400, json=twilio_error(400, 30005, "Unknown destination handset")),
        httpx.Response(400, json=twilio_error(400, 30003, "Unreachable destination handset")),
    ]
    customer = await make_customer(shop)
    statuses = []
    for n in range(5):
        message = await deliver(await queue(customer, key=f"k{n}", purpose="transactional"), twilio)
        if message.status == MessageStatus.SENT:
            # Twilio later confirms the delivery through its status callback.
            await Message.filter(id=message.id).update(status=MessageStatus.DELIVERED)
        statuses.append(message.status)
        if n < 4:
            assert not await Suppression.exists(shop_id=shop.id), n

    assert statuses == [MessageStatus.FAILED, MessageStatus.SENT] + [MessageStatus.FAILED] * 3
    suppression = await Suppression.get(shop_id=shop.id, channel=Channel.SMS)
    assert suppression.reason == SuppressionReason.REPEATED_FAILURE
    assert "30003, 30005, 30003" in suppression.detail
    blocked = await deliver(await queue(customer, key="after", purpose="transactional"), twilio)
    assert blocked.reason == "suppressed:repeated_failure"
    assert route.call_count == 5


async def test_63016_falls_back_to_the_whatsapp_template(shop, twilio, respx_mock, created):
    route = respx_mock.post(MESSAGES_URL)
    route.side_effect = [
        httpx.Response(400, json=twilio_error(400, 63016, "Outside the allowed window")),
        httpx.Response(201, json=created),
    ]
    customer = await make_customer(shop)
    await service.save_template(
        shop.id,
        "points_nudge",
        Channel.WHATSAPP,
        body="Hi {{ first_name }}, you have {{ points_balance }} points",
        whatsapp_content_sid="HX1234567890abcdef1234567890abcdef",
        whatsapp_variables=["first_name", "points_balance"],
    )
    queued = await service.queue_message(
        customer, Channel.WHATSAPP, Purpose.MARKETING, template_key="points_nudge"
    )

    message = await deliver(queued, twilio)

    first, second = (form(call.request) for call in route.calls)
    assert first["Body"] == ["Hi Alice, you have 0 points"]
    assert first["To"] == ["whatsapp:+447911123456"]
    assert "ContentSid" not in first
    assert second["ContentSid"] == ["HX1234567890abcdef1234567890abcdef"]
    assert json.loads(second["ContentVariables"][0]) == {"1": "Alice", "2": "0"}
    assert "Body" not in second
    assert message.status == MessageStatus.SENT
    assert message.content_sid == "HX1234567890abcdef1234567890abcdef"
    assert message.reason == "whatsapp_template_fallback:63016"
    assert message.attempts == 1


async def test_63016_without_a_template_fails(shop, twilio, respx_mock):
    respx_mock.post(MESSAGES_URL).respond(400, json=twilio_error(400, 63016))
    customer = await make_customer(shop)

    message = await deliver(await queue(customer, Channel.WHATSAPP), twilio)

    assert (message.status, message.error_code) == (MessageStatus.FAILED, "63016")


async def test_429_goes_back_to_the_queue_then_sends(shop, twilio, respx_mock, created):
    route = respx_mock.post(MESSAGES_URL)
    route.side_effect = [
        httpx.Response(429, json=twilio_error(429, 20429, "Too Many Requests")),
        httpx.Response(201, json=created),
    ]
    customer = await make_customer(shop)
    queued = await queue(customer)

    with pytest.raises(RetryableSendError):
        await service.deliver(queued.id, twilio, link_settings=LINKS)
    waiting = await Message.get(id=queued.id)
    assert (waiting.status, waiting.error_code) == (MessageStatus.QUEUED, "20429")

    message = await deliver(queued, twilio)
    assert (message.status, message.attempts, message.error_code) == (MessageStatus.SENT, 2, None)
    assert route.call_count == 2


async def test_a_channel_without_provider_fails_clearly(shop, twilio):
    customer = await make_customer(shop)
    message = await deliver(await queue(customer, Channel.EMAIL, subject="Hi"), twilio)

    assert (message.status, message.error_code) == (MessageStatus.FAILED, "channel_not_configured")


async def test_unknown_message_is_an_error(shop, twilio):
    with pytest.raises(DomainError):
        await service.deliver(424242, twilio)


async def test_63016_from_a_status_callback_queues_a_template_send(
    shop, twilio, respx_mock, created
):
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    customer = await make_customer(shop)
    await service.save_template(
        shop.id,
        "nudge",
        Channel.WHATSAPP,
        body="Hi {{ first_name }}",
        whatsapp_content_sid="HXabc",
        whatsapp_variables=["first_name"],
    )
    original = await service.queue_message(
        customer, Channel.WHATSAPP, Purpose.MARKETING, template_key="nudge"
    )
    await deliver(original, twilio)
    # Twilio accepted it, then reported 63016 in a status callback.
    await Message.filter(id=original.id).update(status=MessageStatus.FAILED, error_code="63016")
    original = await Message.get(id=original.id)

    fallback = await service.queue_whatsapp_fallback(original)
    assert (await service.queue_whatsapp_fallback(original)).id == fallback.id
    clock.set_now(NOON + timedelta(minutes=5))
    # The original never reached the customer, so smart sending does not hold this back.
    sent = await deliver(fallback, twilio)

    assert sent.status == MessageStatus.SENT
    last = form(route.calls.last.request)
    assert last["ContentSid"] == ["HXabc"] and "Body" not in last
    assert json.loads(last["ContentVariables"][0]) == {"1": "Alice"}
