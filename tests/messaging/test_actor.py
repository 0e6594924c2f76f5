"""The send_message actor through a StubBroker and an in-process worker, channels from env."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from loyalty import clock
from loyalty.consent.models import Channel, Purpose
from loyalty.messaging import service
from loyalty.messaging.models import Message, MessageStatus
from loyalty.workers import messages as message_actors
from tests.messaging.conftest import MESSAGES_URL, drain, form, make_customer, twilio_error


async def queue(customer, key=None) -> Message:
    return await service.queue_message(
        customer,
        Channel.SMS,
        Purpose.MARKETING,
        content="Hi {{ first_name }}",
        idempotency_key=key,
    )


async def test_a_redelivered_task_sends_once(
    shop, twilio_env, stub_broker, stub_worker, respx_mock, created
):
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    message = await queue(await make_customer(shop))

    message_actors.send_message.send(message.id)
    message_actors.send_message.send(message.id)
    drain(stub_broker, stub_worker)

    assert route.call_count == 1
    sent = await Message.get(id=message.id)
    assert (sent.status, sent.provider_id, sent.attempts) == (
        MessageStatus.SENT,
        created["sid"],
        1,
    )
    assert form(route.calls.last.request)["Body"] == ["Hi Alice"]


async def test_429_is_retried_then_sent(
    shop, twilio_env, stub_broker, stub_worker, respx_mock, created
):
    route = respx_mock.post(MESSAGES_URL)
    route.side_effect = [
        httpx.Response(429, json=twilio_error(429, 20429, "Too Many Requests")),
        httpx.Response(503, json=twilio_error(503, 20500, "Service unavailable")),
        httpx.Response(201, json=created),
    ]
    message = await queue(await make_customer(shop))

    message_actors.send_message.send(message.id)
    drain(stub_broker, stub_worker)

    assert route.call_count == 3
    sent = await Message.get(id=message.id)
    assert (sent.status, sent.attempts) == (MessageStatus.SENT, 3)
    assert not stub_broker.dead_letters


async def test_permanent_errors_are_not_retried(
    shop, twilio_env, stub_broker, stub_worker, respx_mock
):
    route = respx_mock.post(MESSAGES_URL).respond(400, json=twilio_error(400, 21211))
    message = await queue(await make_customer(shop))

    message_actors.send_message.send(message.id)
    drain(stub_broker, stub_worker)

    assert route.call_count == 1
    assert (await Message.get(id=message.id)).status == MessageStatus.FAILED


async def test_exhausted_retries_fail_the_message(
    shop, twilio_env, stub_broker, stub_worker, respx_mock
):
    route = respx_mock.post(MESSAGES_URL).respond(503, json=twilio_error(503, 20500))
    message = await queue(await make_customer(shop))

    message_actors.send_message.send_with_options(args=(message.id,), max_retries=2)
    stub_broker.join(message_actors.QUEUE, fail_fast=False)
    stub_worker.join()

    assert route.call_count == 3
    failed = await Message.get(id=message.id)
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, "20500")
    assert failed.reason == "retries exhausted after 2"


async def test_deferred_messages_are_released_when_due(
    shop, twilio_env, stub_broker, stub_worker, respx_mock, created
):
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    clock.set_now(datetime(2026, 6, 1, 22, 0, tzinfo=UTC))  # 23:00 BST
    message = await queue(await make_customer(shop))

    message_actors.send_message.send(message.id)
    drain(stub_broker, stub_worker)
    deferred = await Message.get(id=message.id)
    assert (deferred.status, deferred.reason) == (MessageStatus.DEFERRED, "quiet_hours")
    assert await message_actors.release_deferred() == []

    clock.set_now(datetime(2026, 6, 2, 7, 1, tzinfo=UTC))
    message_actors.release_due_messages.send()
    drain(stub_broker, stub_worker)

    assert route.call_count == 1
    assert (await Message.get(id=message.id)).status == MessageStatus.SENT
