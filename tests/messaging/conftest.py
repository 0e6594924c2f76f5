"""Messaging tests: a shop, customers with consent, channels injected at the HTTP edge."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from dramatiq import Broker, Worker
from dramatiq.brokers.stub import StubBroker

from loyalty import clock
from loyalty.channels import OutboundMessage, SendResult, TwilioMessagesChannel, twilio_client
from loyalty.consent import service as consent
from loyalty.consent.models import Channel, ConsentSource, Purpose
from loyalty.customers.models import Customer
from loyalty.customers.service import upsert_customer
from loyalty.messaging.providers import LinkSettings
from loyalty.programme.inputs import CustomerInput
from loyalty.shops.models import Shop
from loyalty.shops.service import create_shop
from loyalty.workers import messages as message_actors
from loyalty.workers.broker import build_broker

ACCOUNT = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
TOKEN = "test-auth-token"
SERVICE = "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
WHATSAPP_FROM = "+447700900999"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
SECRET = "test-messaging-secret"
LINKS = LinkSettings(public_base_url="https://loyalty.shop.example", secret_key=SECRET)
# Monday 1 June 2026, 12:00 in London (BST): outside quiet hours.
NOON = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
ALL_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP)


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True)


def twilio_error(status: int, code: int, message: str = "error") -> dict:
    """An error body in the legacy shape the Messages API returns."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@pytest.fixture
def created(fixtures_dir: Path) -> dict:
    """Twilio's sample 201 body for a created message."""
    return json.loads((fixtures_dir / "twilio_message_create_response.json").read_text())


@pytest.fixture
async def shop(database_url: str) -> Shop:
    clock.set_now(NOON)
    return await create_shop("Corner Shop")


async def make_customer(
    shop: Shop,
    external_id: str = "c1",
    *,
    first_name: str | None = "Alice",
    time_zone: str | None = None,
    subscribed: tuple[Channel, ...] = ALL_CHANNELS,
    phone: str | None = "07911 123456",
    email: str | None = None,
) -> Customer:
    customer, _ = await upsert_customer(
        shop.id,
        CustomerInput(
            external_id=external_id,
            email=email or f"{external_id}@example.com",
            phone=phone,
            first_name=first_name,
            time_zone=time_zone,
        ),
    )
    for channel in subscribed:
        await consent.subscribe(customer, channel, Purpose.MARKETING, source=ConsentSource.API)
    return customer


class FakeChannel:
    """An adapter that records what it was given and accepts everything."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.provider = "fake"
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult("fake", f"{self.channel}-{len(self.sent)}", "sent")


@pytest.fixture
def fakes() -> dict[Channel, FakeChannel]:
    return {channel: FakeChannel(channel.value) for channel in ALL_CHANNELS}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def twilio(http: httpx.AsyncClient) -> dict[Channel, TwilioMessagesChannel]:
    client = twilio_client(ACCOUNT, TOKEN, http)
    return {
        Channel.SMS: TwilioMessagesChannel(client, channel="sms", messaging_service_sid=SERVICE),
        Channel.WHATSAPP: TwilioMessagesChannel(client, channel="whatsapp", from_=WHATSAPP_FROM),
    }


@contextmanager
def actors_on(broker: Broker) -> Iterator[Broker]:
    """Declare the message actors on `broker` for the duration, then put them back."""
    previous = {actor: actor.broker for actor in message_actors.ACTORS}
    for actor in message_actors.ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    try:
        yield broker
    finally:
        for actor, original in previous.items():
            actor.broker = original


@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Provider settings as a deployment gives them, read by the worker's channel factory."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_MESSAGING_SERVICE_SID", SERVICE)
    monkeypatch.setenv("PUBLIC_BASE_URL", LINKS.public_base_url)
    monkeypatch.setenv("LOYALTY_SECRET_KEY", SECRET)


@pytest.fixture
def stub_broker(database_url: str) -> Iterator[StubBroker]:
    broker = build_broker(None, database_url)
    assert isinstance(broker, StubBroker)
    with actors_on(broker):
        # Fast retries for the tests; the production backoff starts at seconds.
        saved = dict(message_actors.send_message.options)
        message_actors.send_message.options.update(min_backoff=10, max_backoff=50)
        try:
            yield broker
        finally:
            message_actors.send_message.options.clear()
            message_actors.send_message.options.update(saved)


@pytest.fixture
def stub_worker(stub_broker: StubBroker) -> Iterator[Worker]:
    worker = Worker(stub_broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def drain(broker: StubBroker, worker: Worker) -> None:
    broker.join(message_actors.QUEUE)
    worker.join()
