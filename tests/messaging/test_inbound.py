"""Twilio status callbacks and inbound keyword replies, end to end through HTTP, signed.

Payload shapes follow ../shared/fixtures/twilio_reference.md (sections 3 and 4); every
request is signed with twilio's own RequestValidator for the URL Twilio would request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from xml.etree import ElementTree

import httpx
import pytest
from tortoise.exceptions import OperationalError
from twilio.request_validator import RequestValidator

from loyalty import clock
from loyalty.config import Settings
from loyalty.consent import service as consent
from loyalty.consent.models import (
    Channel,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Purpose,
)
from loyalty.customers.models import Customer
from loyalty.customers.service import upsert_customer
from loyalty.errors import DomainError
from loyalty.messaging import inbound
from loyalty.messaging.models import (
    InboundMessage,
    InboundStatus,
    Message,
    MessageStatus,
    MessagingSettings,
    Suppression,
    SuppressionReason,
)
from loyalty.programme.inputs import CustomerInput
from loyalty.shops.models import Shop
from loyalty.shops.service import create_shop
from loyalty.web import create_app
from loyalty.workers import sweeps

TOKEN = "12345-test-auth-token"
ACCOUNT = "AC" + "a" * 32
SERVICE = "MG" + "a" * 32
SMS_FROM = "+447700900100"
WHATSAPP_FROM = "+447700900200"
PHONE = "+447911123456"
PUBLIC = "https://loyalty.example.co.uk"
STOP_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL"]
START_WORDS = ["START", "YES", "UNSTOP"]


# --- helpers ---------------------------------------------------------------------------


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@dataclass
class Twilio:
    """Plays Twilio: posts form-encoded callbacks signed for the URL it was given."""

    http: httpx.AsyncClient
    base: str = "http://testserver"

    async def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        signed_url: str | None = None,
        signed_params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        url = signed_url or self.base + path
        sig = signature if signature is not None else sign(url, signed_params or params)
        all_headers = {"X-Twilio-Signature": sig, **(headers or {})}
        if signature == "":
            del all_headers["X-Twilio-Signature"]
        return await self.http.post(path, data=params, headers=all_headers)


_inbound_sids = iter(range(1, 10**9))


def inbound_params(
    body: str, *, from_: str = PHONE, to: str = SMS_FROM, sid: str | None = None, **extra: str
):
    """An incoming SMS as Twilio posts it (section 4), with a fresh MessageSid unless given."""
    sid = sid or f"SM{next(_inbound_sids):032x}"
    return {
        "ToCountry": "GB",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "GB",
        "To": to,
        "MessagingServiceSid": SERVICE,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": from_,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def whatsapp_params(body: str) -> dict[str, str]:
    params = inbound_params(
        body, from_=f"whatsapp:{PHONE}", to=f"whatsapp:{WHATSAPP_FROM}", ProfileName="Alice"
    )
    params["WaId"] = PHONE.lstrip("+")
    del params["MessagingServiceSid"]
    return params


def status_params(sid: str, status: str, *, error: str | None = None, to: str = PHONE):
    """A status callback (section 3)."""
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT,
        "MessagingServiceSid": SERVICE,
        "From": SMS_FROM,
        "To": to,
        "ApiVersion": "2010-04-01",
        "MessageStatus": status,
        "SmsStatus": status,
    }
    if status in ("delivered", "undelivered"):
        params["RawDlrDoneDate"] = "2401151230"
    if error is not None:
        params["ErrorCode"] = error
    return params


def twiml_messages(response: httpx.Response) -> list[str]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = ElementTree.fromstring(response.text)
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


async def status_of(customer: Customer, channel: Channel, purpose: Purpose) -> ConsentStatus:
    state = await consent.get_state(customer, channel, purpose)
    return state.status if state else ConsentStatus.NEVER_SUBSCRIBED


async def subscribe_everything(customer: Customer) -> None:
    for channel in (Channel.SMS, Channel.WHATSAPP):
        for purpose in Purpose:
            await consent.subscribe(
                customer,
                channel,
                purpose,
                source=ConsentSource.STOREFRONT_FORM,
                evidence={"form_id": "signup"},
            )


_sids = iter(range(10_000, 99_999))


async def make_message(
    shop: Shop,
    customer: Customer,
    *,
    status: MessageStatus = MessageStatus.SENT,
    channel: Channel = Channel.SMS,
    to: str = PHONE,
) -> Message:
    return await Message.create(
        shop=shop,
        customer=customer,
        channel=channel,
        purpose=Purpose.MARKETING,
        to_address=to,
        body="You have 250 points",
        status=status,
        provider="twilio",
        provider_id=f"SM{next(_sids):032d}",
    )


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("TRUST_PROXY", raising=False)
    return monkeypatch


@pytest.fixture
async def app(database_url: str, env: pytest.MonkeyPatch):
    return create_app(Settings(database_url=database_url), manage_db=False)


@pytest.fixture
async def twilio(app) -> AsyncIterator[Twilio]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Twilio(http)


@pytest.fixture
async def shop(database_url: str) -> Shop:
    shop = await create_shop("Inbound Shop")
    await MessagingSettings.create(
        shop=shop,
        sms_from=SMS_FROM,
        whatsapp_from=f"whatsapp:{WHATSAPP_FROM}",
        messaging_service_sid=SERVICE,
        help_text="Acme Rewards: reply STOP to opt out. Help: 0800 000 000",
    )
    return shop


@pytest.fixture
async def other_shop(database_url: str) -> Shop:
    """A second tenant with its own sender, and a customer with the same phone."""
    return await create_shop("Other Shop")


async def add_customer(shop: Shop, external_id: str = "c1", phone: str = "07911 123456"):
    customer, _ = await upsert_customer(
        shop.id, CustomerInput(external_id=external_id, email=f"{external_id}@x.co", phone=phone)
    )
    return customer


@pytest.fixture
async def customer(shop: Shop) -> Customer:
    customer = await add_customer(shop)
    assert customer.phone == PHONE
    await subscribe_everything(customer)
    return customer


# --- signatures ------------------------------------------------------------------------


async def test_valid_signature_is_accepted(twilio, shop, customer):
    response = await twilio.post(
        f"/webhooks/twilio/{shop.public_id}/inbound", inbound_params("HELP")
    )
    assert twiml_messages(response) == ["Acme Rewards: reply STOP to opt out. Help: 0800 000 000"]


async def test_tampered_param_is_refused_and_not_processed(twilio, shop, customer, caplog):
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    signed = inbound_params("Hello")
    with caplog.at_level(logging.WARNING, "loyalty.messaging.inbound_routes"):
        response = await twilio.post(path, inbound_params("STOP"), signed_params=signed)
    assert response.status_code == 403
    assert "bad signature" in caplog.text
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED
    # an added parameter breaks it too: the signature covers every parameter received
    extra = {**signed, "Extra": "1"}
    assert (await twilio.post(path, extra, signed_params=signed)).status_code == 403


async def test_signature_for_another_url_is_refused(twilio, shop, customer):
    params = inbound_params("STOP")
    response = await twilio.post(
        f"/webhooks/twilio/{shop.public_id}/inbound",
        params,
        signed_url=f"http://testserver/webhooks/twilio/{shop.public_id}/status",
    )
    assert response.status_code == 403
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED


async def test_missing_signature_wrong_token_or_no_token_is_refused(twilio, shop, env, caplog):
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    params = inbound_params("HELP")
    with caplog.at_level(logging.WARNING, "loyalty.messaging.inbound_routes"):
        assert (await twilio.post(path, params, signature="")).status_code == 403
        assert "missing signature" in caplog.text
        wrong = sign("http://testserver" + path, params, token="another-token")
        assert (await twilio.post(path, params, signature=wrong)).status_code == 403
        env.delenv("TWILIO_AUTH_TOKEN")
        assert (await twilio.post(path, params)).status_code == 403
        assert "TWILIO_AUTH_TOKEN is not set" in caplog.text


async def test_status_callbacks_are_verified_too(twilio, shop, customer):
    message = await make_message(shop, customer)
    params = status_params(message.provider_id, "delivered")
    forged = {**params, "MessageStatus": "failed", "ErrorCode": "21610"}
    response = await twilio.post("/webhooks/twilio/status", forged, signed_params=params)
    assert response.status_code == 403
    await message.refresh_from_db()
    assert message.status == MessageStatus.SENT


@pytest.fixture
async def internal(app) -> AsyncIterator[Twilio]:
    """The app as a reverse proxy reaches it: plain http on an internal host and port."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal:8000") as http:
        yield Twilio(http, base="http://internal:8000")


async def test_behind_a_proxy_the_public_url_is_checked(internal, shop, customer, env):
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    params = inbound_params("HELP")
    public = PUBLIC + path
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "loyalty.example.co.uk"}
    # without proxy configuration the app sees http://internal:8000/...: refused
    assert (await internal.post(path, params, signed_url=public)).status_code == 403
    response = await internal.post(path, params, signed_url=public, headers=forwarded)
    assert response.status_code == 403  # forwarded headers are not trusted by default
    env.setenv("TRUST_PROXY", "true")
    response = await internal.post(path, params, signed_url=public, headers=forwarded)
    assert twiml_messages(response)
    # trusting the proxy: a request signed for the internal URL no longer passes
    assert (await internal.post(path, params, headers=forwarded)).status_code == 403
    env.delenv("TRUST_PROXY")
    env.setenv("PUBLIC_BASE_URL", PUBLIC + "/")
    response = await internal.post(path, params, signed_url=public)
    assert twiml_messages(response)


async def test_query_string_and_default_port_are_part_of_the_signed_url(internal, shop, env):
    env.setenv("PUBLIC_BASE_URL", PUBLIC)
    path = f"/webhooks/twilio/{shop.public_id}/inbound?source=acme"
    params = inbound_params("HELP")
    assert twiml_messages(await internal.post(path, params, signed_url=PUBLIC + path))
    with_port = "https://loyalty.example.co.uk:443" + path
    assert twiml_messages(await internal.post(path, params, signed_url=with_port))
    other = PUBLIC + path.replace("acme", "other")
    assert (await internal.post(path, params, signed_url=other)).status_code == 403


# --- inbound keywords ------------------------------------------------------------------


@pytest.mark.parametrize("word", [*STOP_WORDS, " stop ", "Stop.", "cancel please"])
async def test_every_stop_word_unsubscribes_the_channel_with_evidence(twilio, shop, customer, word):
    params = inbound_params(word)
    response = await twilio.post(f"/webhooks/twilio/{shop.public_id}/inbound", params)
    assert twiml_messages(response) == []
    for purpose in Purpose:
        assert await status_of(customer, Channel.SMS, purpose) == ConsentStatus.UNSUBSCRIBED
        assert await status_of(customer, Channel.WHATSAPP, purpose) == ConsentStatus.SUBSCRIBED
    events = await ConsentEvent.filter(
        customer_id=customer.id, to_status=ConsentStatus.UNSUBSCRIBED
    )
    assert {e.purpose for e in events} == set(Purpose)
    for event in events:
        assert event.channel == Channel.SMS and event.source == ConsentSource.STOP_REPLY
        assert event.evidence["sending_number"] == SMS_FROM
        assert event.evidence["message"] == word.strip()
        assert event.evidence["message_sid"] == params["MessageSid"]
    assert not (await consent.can_send(customer, Channel.SMS, Purpose.TRANSACTIONAL)).allowed


@pytest.mark.parametrize("word", [*START_WORDS, "yes!"])
async def test_start_words_resubscribe_what_stop_ended(twilio, shop, customer, word):
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    await twilio.post(path, inbound_params("STOP"))
    response = await twilio.post(path, inbound_params(word))
    assert twiml_messages(response) == []
    for purpose in Purpose:
        assert await status_of(customer, Channel.SMS, purpose) == ConsentStatus.SUBSCRIBED
    assert (await consent.can_send(customer, Channel.SMS, Purpose.MARKETING)).allowed
    events = await ConsentEvent.filter(
        customer_id=customer.id,
        channel=Channel.SMS,
        from_status=ConsentStatus.UNSUBSCRIBED,
        to_status=ConsentStatus.SUBSCRIBED,
    )
    assert len(events) == 2
    for event in events:
        assert event.source == ConsentSource.STOP_REPLY
        assert event.evidence["sending_number"] == SMS_FROM
        assert event.evidence["message"] == word
        assert event.evidence["keyword"] == word.strip("!").upper()


async def test_start_does_not_subscribe_a_customer_who_never_did(twilio, shop):
    customer = await add_customer(shop, "never")
    response = await twilio.post(
        f"/webhooks/twilio/{shop.public_id}/inbound", inbound_params("YES")
    )
    assert twiml_messages(response) == []
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == (
        ConsentStatus.NEVER_SUBSCRIBED
    )
    assert not await ConsentEvent.filter(customer_id=customer.id).exists()


@pytest.mark.parametrize("word", ["HELP", "help", " Info "])
async def test_help_answers_with_the_shops_help_text(twilio, shop, customer, word):
    response = await twilio.post(f"/webhooks/twilio/{shop.public_id}/inbound", inbound_params(word))
    assert twiml_messages(response) == ["Acme Rewards: reply STOP to opt out. Help: 0800 000 000"]
    assert not await ConsentEvent.filter(customer_id=customer.id, source="stop_reply").exists()


async def test_help_without_settings_uses_the_default_text(twilio, other_shop):
    path = f"/webhooks/twilio/{other_shop.public_id}/inbound"
    response = await twilio.post(path, inbound_params("HELP"))
    assert twiml_messages(response) == ["Reply STOP to unsubscribe. Msg&data rates may apply."]
    assert "Msg&amp;data" in response.text


async def test_other_messages_get_an_empty_response(twilio, shop, customer):
    response = await twilio.post(
        f"/webhooks/twilio/{shop.public_id}/inbound", inbound_params("Do you have size 9? STOP")
    )
    assert twiml_messages(response) == []
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    empty = await twilio.post(f"/webhooks/twilio/{shop.public_id}/inbound", inbound_params(""))
    assert twiml_messages(empty) == []
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED


async def test_keywords_are_configurable_per_shop(twilio, shop, customer):
    await MessagingSettings.filter(shop_id=shop.id).update(
        stop_keywords=["STOP", "PARAR"],  # QUIT and the others removed
        start_keywords=["START", "rejoin"],
        help_keywords=["AYUDA"],
    )
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    assert twiml_messages(await twilio.post(path, inbound_params("QUIT"))) == []
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED
    assert twiml_messages(await twilio.post(path, inbound_params("HELP"))) == []
    assert twiml_messages(await twilio.post(path, inbound_params("ayuda"))) == [
        "Acme Rewards: reply STOP to opt out. Help: 0800 000 000"
    ]
    await twilio.post(path, inbound_params("parar"))
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.UNSUBSCRIBED
    await twilio.post(path, inbound_params("Rejoin"))
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED


async def test_twilio_advanced_opt_out_wins_over_the_shops_lists(twilio, shop, customer):
    await MessagingSettings.filter(shop_id=shop.id).update(stop_keywords=["STOP"])
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    await twilio.post(path, inbound_params("quit", OptOutType="STOP"))
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.UNSUBSCRIBED
    await twilio.post(path, inbound_params("unstop", OptOutType="START"))
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED


async def test_whatsapp_stop_unsubscribes_whatsapp_only(twilio, shop, customer):
    response = await twilio.post("/webhooks/twilio/inbound", whatsapp_params("STOP"))
    assert twiml_messages(response) == []
    for purpose in Purpose:
        assert await status_of(customer, Channel.WHATSAPP, purpose) == ConsentStatus.UNSUBSCRIBED
        assert await status_of(customer, Channel.SMS, purpose) == ConsentStatus.SUBSCRIBED
    event = await ConsentEvent.filter(
        customer_id=customer.id, channel=Channel.WHATSAPP, source=ConsentSource.STOP_REPLY
    ).first()
    assert event.evidence["sending_number"] == f"whatsapp:{WHATSAPP_FROM}"
    await twilio.post("/webhooks/twilio/inbound", whatsapp_params("START"))
    assert await status_of(customer, Channel.WHATSAPP, Purpose.MARKETING) == (
        ConsentStatus.SUBSCRIBED
    )


async def test_shop_is_found_by_to_number_or_service_and_others_are_untouched(
    twilio, shop, customer, other_shop
):
    await MessagingSettings.create(shop=other_shop, sms_from="+447700900999")
    neighbour = await add_customer(other_shop, "n1")
    await subscribe_everything(neighbour)
    # by To, without a Messaging Service
    params = inbound_params("STOP")
    del params["MessagingServiceSid"]
    assert twiml_messages(await twilio.post("/webhooks/twilio/inbound", params)) == []
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.UNSUBSCRIBED
    assert await status_of(neighbour, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED
    # by Messaging Service, from a pool number the settings do not name
    await twilio.post("/webhooks/twilio/inbound", inbound_params("START", to="+447700900555"))
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED
    # a number no shop sends from: nothing happens
    params = inbound_params("STOP", to="+447700900555")
    del params["MessagingServiceSid"]
    assert twiml_messages(await twilio.post("/webhooks/twilio/inbound", params)) == []
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED


async def test_every_customer_of_the_shop_with_that_phone_is_unsubscribed(twilio, shop, customer):
    twin = await add_customer(shop, "c2")
    await subscribe_everything(twin)
    stranger = await add_customer(shop, "c3", phone="07911 123457")
    await subscribe_everything(stranger)
    await twilio.post(f"/webhooks/twilio/{shop.public_id}/inbound", inbound_params("STOP"))
    for who, expected in (
        (customer, ConsentStatus.UNSUBSCRIBED),
        (twin, ConsentStatus.UNSUBSCRIBED),
        (stranger, ConsentStatus.SUBSCRIBED),
    ):
        assert await status_of(who, Channel.SMS, Purpose.MARKETING) == expected


async def test_repeated_stop_is_recorded_once_and_twilio_opt_out_type_is_kept(
    twilio, shop, customer
):
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    params = inbound_params("STOP", OptOutType="STOP")
    await twilio.post(path, params)
    await twilio.post(path, params)
    events = await ConsentEvent.filter(customer_id=customer.id, source=ConsentSource.STOP_REPLY)
    assert len(events) == 2  # one per purpose, none for the repeat
    assert all(e.evidence["twilio_opt_out_type"] == "STOP" for e in events)


async def test_unknown_shop_in_the_path_is_404(twilio, shop):
    response = await twilio.post("/webhooks/twilio/nosuchshop/inbound", inbound_params("STOP"))
    assert response.status_code == 404


# --- stored first: failures kept for the sweep, replays ignored ------------------------


def fail_first_stop(monkeypatch: pytest.MonkeyPatch, error: Exception) -> list[int]:
    """Make consent.record_stop_reply raise `error` on its first call only."""
    calls: list[int] = []
    real = consent.record_stop_reply

    async def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return await real(*args, **kwargs)

    monkeypatch.setattr(consent, "record_stop_reply", flaky)
    return calls


@pytest.mark.parametrize(
    "error",
    [
        DomainError("CONFLICT", "consent is changing concurrently, try again"),
        OperationalError("database is locked"),
    ],
    ids=["conflict", "database"],
)
async def test_a_stop_that_fails_is_kept_and_the_sweep_applies_it(
    twilio, shop, customer, env, caplog, error
):
    calls = fail_first_stop(env, error)
    params = inbound_params("STOP")
    with caplog.at_level(logging.ERROR, "loyalty.messaging.inbound"):
        response = await twilio.post(f"/webhooks/twilio/{shop.public_id}/inbound", params)
    assert response.status_code == 200
    assert twiml_messages(response) == []
    assert params["MessageSid"] in caplog.text
    row = await InboundMessage.get(message_sid=params["MessageSid"])
    assert row.status == InboundStatus.FAILED
    assert row.attempts == 1
    assert str(error) in row.error
    assert (row.shop_id, row.channel, row.from_address) == (shop.id, Channel.SMS, PHONE)
    assert (row.to_address, row.body, row.params) == (SMS_FROM, "STOP", params)
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED
    assert not await ConsentEvent.filter(customer_id=customer.id, source="stop_reply").exists()

    # not yet: the sweep leaves a fresh failure alone
    await sweeps._resend_stalled_work()
    await row.refresh_from_db()
    assert (row.status, row.attempts) == (InboundStatus.FAILED, 1)

    clock.set_now(clock.now() + timedelta(minutes=10))
    await sweeps._resend_stalled_work()
    await row.refresh_from_db()
    assert (row.status, row.attempts, row.error) == (InboundStatus.PROCESSED, 2, None)
    assert len(calls) == 2
    for purpose in Purpose:
        assert await status_of(customer, Channel.SMS, purpose) == ConsentStatus.UNSUBSCRIBED
        assert await status_of(customer, Channel.WHATSAPP, purpose) == ConsentStatus.SUBSCRIBED
    events = await ConsentEvent.filter(customer_id=customer.id, source=ConsentSource.STOP_REPLY)
    assert {e.purpose for e in events} == set(Purpose)
    for event in events:
        assert event.evidence["message_sid"] == params["MessageSid"]
        assert event.evidence["sending_number"] == SMS_FROM
        assert event.evidence["message"] == "STOP"
    # processed: a further sweep does nothing more
    await sweeps._resend_stalled_work()
    assert len(calls) == 2


async def test_a_replayed_start_after_a_later_stop_does_not_resubscribe(twilio, shop, customer):
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    await twilio.post(path, inbound_params("STOP"))
    start = inbound_params("START")
    await twilio.post(path, start)
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED
    await twilio.post(path, inbound_params("STOP"))
    events = await ConsentEvent.filter(customer_id=customer.id).count()
    # the captured, validly signed START posted again
    response = await twilio.post(path, start)
    assert twiml_messages(response) == []
    for purpose in Purpose:
        assert await status_of(customer, Channel.SMS, purpose) == ConsentStatus.UNSUBSCRIBED
    assert await ConsentEvent.filter(customer_id=customer.id).count() == events
    assert await InboundMessage.filter(message_sid=start["MessageSid"]).count() == 1
    row = await InboundMessage.get(message_sid=start["MessageSid"])
    assert (row.status, row.attempts) == (InboundStatus.PROCESSED, 1)


async def test_a_repeated_help_is_answered_again_and_stored_once(twilio, shop, customer):
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    params = inbound_params("HELP")
    for _ in range(2):
        response = await twilio.post(path, params)
        assert twiml_messages(response) == [
            "Acme Rewards: reply STOP to opt out. Help: 0800 000 000"
        ]
    assert await InboundMessage.filter(shop_id=shop.id).count() == 1


async def test_messages_to_the_shared_url_are_stored_without_a_shop(twilio, shop, customer):
    params = whatsapp_params("Hello")
    assert twiml_messages(await twilio.post("/webhooks/twilio/inbound", params)) == []
    row = await InboundMessage.get(message_sid=params["MessageSid"])
    assert row.shop_id is None
    assert (row.channel, row.from_address, row.status) == (
        Channel.WHATSAPP,
        PHONE,
        InboundStatus.PROCESSED,
    )


async def test_a_retried_stop_does_not_undo_a_later_start(twilio, shop, customer, env):
    """STOP fails, START (nothing to undo yet) succeeds: the STOP retried later is stale."""
    fail_first_stop(env, DomainError("CONFLICT", "try again"))
    path = f"/webhooks/twilio/{shop.public_id}/inbound"
    stop = inbound_params("STOP")
    await twilio.post(path, stop)
    await twilio.post(path, inbound_params("START"))
    clock.set_now(clock.now() + timedelta(minutes=10))
    row = await InboundMessage.get(message_sid=stop["MessageSid"])
    assert await inbound.retry_failed_inbound(timedelta(minutes=5)) == [row.id]
    await row.refresh_from_db()
    assert row.status == InboundStatus.PROCESSED
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED


async def test_unknown_shop_is_not_stored(twilio, shop):
    response = await twilio.post("/webhooks/twilio/nosuchshop/inbound", inbound_params("STOP"))
    assert response.status_code == 404
    assert not await InboundMessage.exists()


# --- status callbacks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("queued", MessageStatus.QUEUED),
        ("sent", MessageStatus.SENT),
        ("delivered", MessageStatus.DELIVERED),
        ("undelivered", MessageStatus.UNDELIVERED),
        ("failed", MessageStatus.FAILED),
        ("read", MessageStatus.READ),
    ],
)
@pytest.mark.parametrize("with_shop", [True, False])
async def test_each_status_is_recorded(twilio, shop, customer, status, expected, with_shop):
    message = await make_message(shop, customer, status=MessageStatus.QUEUED)
    path = f"/webhooks/twilio/{shop.public_id}/status" if with_shop else "/webhooks/twilio/status"
    error = "30007" if status in ("undelivered", "failed") else None
    response = await twilio.post(path, status_params(message.provider_id, status, error=error))
    assert response.status_code == 200
    await message.refresh_from_db()
    assert message.status == expected
    assert message.error_code == error
    assert (message.delivered_at is not None) == (status in ("delivered", "read"))


async def test_status_never_moves_backwards(twilio, shop, customer):
    message = await make_message(shop, customer)
    sid = message.provider_id

    async def callback(status: str, error: str | None = None) -> MessageStatus:
        response = await twilio.post(
            "/webhooks/twilio/status", status_params(sid, status, error=error)
        )
        assert response.status_code == 200
        await message.refresh_from_db()
        return message.status

    assert await callback("delivered") == MessageStatus.DELIVERED
    delivered_at = message.delivered_at
    assert await callback("sent") == MessageStatus.DELIVERED
    assert await callback("queued") == MessageStatus.DELIVERED
    assert await callback("undelivered", "30003") == MessageStatus.DELIVERED
    assert message.error_code is None
    assert await callback("read") == MessageStatus.READ
    assert message.delivered_at == delivered_at
    assert await callback("delivered") == MessageStatus.READ
    # a delivery receipt wins over an earlier failure report; failures do not replace each other
    other = await make_message(shop, customer)
    sid = other.provider_id
    message = other
    assert await callback("undelivered", "30003") == MessageStatus.UNDELIVERED
    assert await callback("failed", "30006") == MessageStatus.UNDELIVERED
    assert message.error_code == "30003"
    assert await callback("delivered") == MessageStatus.DELIVERED


async def test_21610_turns_consent_off_with_its_evidence(twilio, shop, customer):
    message = await make_message(shop, customer)
    params = status_params(message.provider_id, "failed", error="21610")
    assert (await twilio.post("/webhooks/twilio/status", params)).status_code == 200
    for purpose in Purpose:
        assert await status_of(customer, Channel.SMS, purpose) == ConsentStatus.UNSUBSCRIBED
        assert await status_of(customer, Channel.WHATSAPP, purpose) == ConsentStatus.SUBSCRIBED
    events = await ConsentEvent.filter(customer_id=customer.id, source=ConsentSource.PROVIDER_ERROR)
    assert len(events) == 2
    for event in events:
        assert event.evidence["provider_error_code"] == "21610"
        assert event.evidence["message_sid"] == message.provider_id
        assert event.evidence["message_id"] == message.id
        assert event.evidence["to"] == PHONE
        assert event.evidence["source"] == "status_callback"
    # the same callback again changes nothing more
    assert (await twilio.post("/webhooks/twilio/status", params)).status_code == 200
    assert await ConsentEvent.filter(customer_id=customer.id, source="provider_error").count() == 2


async def test_three_consecutive_unreachable_failures_suppress_the_number(twilio, shop, customer):
    codes = ["30003", "30005", "30006"]
    for i, code in enumerate(codes):
        message = await make_message(shop, customer)
        params = status_params(message.provider_id, "undelivered", error=code)
        await twilio.post(f"/webhooks/twilio/{shop.public_id}/status", params)
        suppressed = await Suppression.get_or_none(shop_id=shop.id, address=PHONE)
        assert (suppressed is not None) == (i == 2)
    assert suppressed.channel == Channel.SMS
    assert suppressed.reason == SuppressionReason.REPEATED_FAILURE


async def test_a_delivery_breaks_the_run_of_failures(twilio, shop, customer):
    for status, error in [
        ("undelivered", "30003"),
        ("undelivered", "30003"),
        ("delivered", None),
        ("undelivered", "30003"),
        ("failed", "30007"),  # carrier filtering: about the content, not the number
        ("undelivered", "30003"),
    ]:
        message = await make_message(shop, customer)
        await twilio.post(
            "/webhooks/twilio/status", status_params(message.provider_id, status, error=error)
        )
    assert not await Suppression.exists(shop_id=shop.id)


async def test_duplicate_failure_callbacks_count_once(twilio, shop, customer):
    message = await make_message(shop, customer)
    params = status_params(message.provider_id, "undelivered", error="30003")
    for _ in range(3):
        assert (await twilio.post("/webhooks/twilio/status", params)).status_code == 200
    assert not await Suppression.exists(shop_id=shop.id)


async def test_whatsapp_failures_suppress_only_whatsapp(twilio, shop, customer):
    for _ in range(3):
        message = await make_message(
            shop, customer, channel=Channel.WHATSAPP, to=f"whatsapp:{PHONE}"
        )
        await twilio.post(
            "/webhooks/twilio/status",
            status_params(message.provider_id, "failed", error="30003", to=f"whatsapp:{PHONE}"),
        )
    suppression = await Suppression.get(shop_id=shop.id)
    assert (suppression.channel, suppression.address) == (Channel.WHATSAPP, PHONE)


async def test_21211_suppresses_an_invalid_address(twilio, shop, customer):
    message = await make_message(shop, customer)
    params = status_params(message.provider_id, "failed", error="21211")
    await twilio.post("/webhooks/twilio/status", params)
    await twilio.post("/webhooks/twilio/status", params)
    suppression = await Suppression.get(shop_id=shop.id)
    assert suppression.reason == SuppressionReason.INVALID_ADDRESS
    assert (suppression.channel, suppression.address) == (Channel.SMS, PHONE)
    assert await Suppression.filter(shop_id=shop.id).count() == 1


async def test_unknown_sid_is_ignored_and_logged(twilio, shop, customer, caplog):
    message = await make_message(shop, customer)
    with caplog.at_level(logging.WARNING, "loyalty.messaging.inbound"):
        response = await twilio.post(
            "/webhooks/twilio/status", status_params("SM" + "f" * 32, "failed", error="21610")
        )
    assert response.status_code == 200
    assert "unknown message" in caplog.text
    await message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED


async def test_a_shop_url_does_not_reach_another_shops_message(twilio, shop, customer, other_shop):
    message = await make_message(shop, customer)
    params = status_params(message.provider_id, "failed", error="21610")
    response = await twilio.post(f"/webhooks/twilio/{other_shop.public_id}/status", params)
    assert response.status_code == 200
    await message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert await status_of(customer, Channel.SMS, Purpose.MARKETING) == ConsentStatus.SUBSCRIBED
