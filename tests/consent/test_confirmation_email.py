"""Double opt-in end to end: the confirmation email is queued, sent over SMTP, and its
link (followed through the app) confirms the subscription."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy
from urllib.parse import parse_qs, urlsplit

import pytest
from dramatiq import Message as QueuedTask

from loyalty.channels import SmtpEmailChannel
from loyalty.consent import links
from loyalty.consent.models import (
    Channel,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Purpose,
)
from loyalty.customers.models import Customer
from loyalty.messaging import confirmations, service
from loyalty.messaging.models import Message, MessageStatus
from loyalty.workers import messages as message_actors
from tests.channels.test_channels_smtp import Mailbox, smtp_server  # noqa: F401  (fixture)
from tests.consent.conftest import SECRET, make_customer
from tests.consent.test_graphql import MERCHANT_UPDATE, UPDATE, gid
from tests.messaging.conftest import stub_broker  # noqa: F401  (fixture)

BASE = "https://loyalty.shop.example"
SAVE = """mutation($input: SaveMessageTemplateInput!) { saveMessageTemplate(input: $input) {
  template { key } userErrors { field message code } } }"""


@pytest.fixture(autouse=True)
def public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)


def enqueued(broker) -> list[tuple[str, tuple]]:
    queue = broker.queues.get(message_actors.QUEUE)
    tasks = []
    while queue is not None and not queue.empty():
        task = QueuedTask.decode(queue.get_nowait())
        tasks.append((task.actor_name, tuple(task.args)))
    return tasks


def link_in(text: str) -> str:
    (url,) = [word for word in text.split() if word.startswith(BASE)]
    parts = urlsplit(url)
    assert parts.path == links.CONFIRM_PATH
    return url


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def smtp(port: int) -> dict[Channel, SmtpEmailChannel]:
    return {
        Channel.EMAIL: SmtpEmailChannel(
            host="127.0.0.1",
            port=port,
            from_address="Shop A <hello@shop.example>",
            start_tls=False,
            timeout=5,
        )
    }


async def test_shopper_opt_in_sends_the_confirmation_and_the_link_confirms(
    gql,
    http,
    shop_a,
    now,
    stub_broker,  # noqa: F811
    smtp_server,  # noqa: F811
):
    customer = await make_customer(shop_a, "a-1")
    await Customer.filter(id=customer.id).update(first_name="Zoë")

    result = await gql.run(
        UPDATE, {"input": {"channel": "EMAIL", "subscribed": True}}, **shop_a.shopper("a-1")
    )
    assert result["updateConsent"]["consent"]["status"] == "PENDING"

    state = await ConsentState.get(customer_id=customer.id, channel="email", purpose="marketing")
    message = await Message.get(customer_id=customer.id)
    assert message.channel == Channel.EMAIL and message.purpose == Purpose.TRANSACTIONAL
    assert message.status == MessageStatus.QUEUED and message.to_address == "a-1@example.com"
    assert message.idempotency_key == f"consent-confirmation:{state.id}:{state.confirmation_nonce}"
    assert message.source == "consent:double_opt_in"
    assert message.subject == "Please confirm your subscription to Shop A"
    url = link_in(message.body)
    assert message.body.startswith("Hi Zoë,")
    assert f'href="{url}"' in message.html
    # Handed to the worker after it was stored.
    assert enqueued(stub_broker) == [("send_message", (message.id,))]

    # The worker sends it over SMTP: a service message, so no marketing consent needed.
    mailbox = Mailbox()
    channels = smtp(await smtp_server(mailbox))
    assert await service.deliver(message.id, channels) == MessageStatus.SENT
    [envelope] = mailbox.envelopes
    assert envelope.rcpt_tos == ["a-1@example.com"]
    received = message_from_bytes(envelope.original_content, policy=email_policy.default)
    assert received["Subject"] == "Please confirm your subscription to Shop A"
    assert received["List-Unsubscribe"] is None  # transactional: no unsubscribe headers
    text = received.get_body(("plain",)).get_content()
    assert link_in(text) == url

    # Following the link through the app confirms.
    page = await http.get(links.CONFIRM_PATH, params={"token": token_of(url)})
    assert page.status_code == 200 and "Subscription confirmed" in page.text
    await state.refresh_from_db()
    assert state.status == ConsentStatus.SUBSCRIBED
    event = await ConsentEvent.filter(customer_id=customer.id).order_by("-id").first()
    assert event.source == ConsentSource.DOUBLE_OPT_IN_CONFIRMATION
    assert event.to_status == ConsentStatus.SUBSCRIBED

    # Asking again once subscribed sends nothing more.
    await gql.run(
        UPDATE, {"input": {"channel": "EMAIL", "subscribed": True}}, **shop_a.shopper("a-1")
    )
    assert await Message.filter(customer_id=customer.id).count() == 1
    assert enqueued(stub_broker) == []


async def test_a_new_request_sends_a_new_link_and_voids_the_old_one(
    gql,
    http,
    shop_a,
    now,
    stub_broker,  # noqa: F811
):
    customer = await make_customer(shop_a, "a-1")
    as_shopper = shop_a.shopper("a-1")
    for _ in range(2):
        await gql.run(UPDATE, {"input": {"channel": "EMAIL", "subscribed": True}}, **as_shopper)
    first, second = await Message.filter(customer_id=customer.id).order_by("id")
    assert first.idempotency_key != second.idempotency_key
    assert enqueued(stub_broker) == [("send_message", (first.id,)), ("send_message", (second.id,))]

    old = await http.get(links.CONFIRM_PATH, params={"token": token_of(link_in(first.body))})
    assert old.status_code == 400 and "no longer valid" in old.text
    new = await http.get(links.CONFIRM_PATH, params={"token": token_of(link_in(second.body))})
    assert new.status_code == 200

    # The same pending request always gives the same message.
    state = await ConsentState.get(customer_id=customer.id, channel="email", purpose="marketing")
    await gql.run(UPDATE, {"input": {"channel": "EMAIL", "subscribed": False}}, **as_shopper)
    await gql.run(UPDATE, {"input": {"channel": "EMAIL", "subscribed": True}}, **as_shopper)
    await state.refresh_from_db()
    settings = confirmations.link_settings(SECRET)
    again = await confirmations.request_confirmation_email(customer, state, link_settings=settings)
    latest = await Message.filter(customer_id=customer.id).order_by("-id").first()
    assert again.id == latest.id and await Message.filter(customer_id=customer.id).count() == 3


async def test_merchant_double_opt_in_sends_the_confirmation(
    gql,
    shop_a,
    now,
    stub_broker,  # noqa: F811
):
    customer = await make_customer(shop_a, "a-1")
    other = await make_customer(shop_a, "a-2")
    base = {"channel": "EMAIL", "subscribed": True, "lawfulBasis": "CONSENT", "note": "phone"}

    direct = await gql.run(
        MERCHANT_UPDATE, {"input": {**base, "customerId": gid(other)}}, **shop_a.merchant
    )
    assert direct["updateCustomerConsent"]["consent"]["status"] == "SUBSCRIBED"
    assert await Message.filter(customer_id=other.id).count() == 0

    pending = await gql.run(
        MERCHANT_UPDATE,
        {"input": {**base, "customerId": gid(customer), "doubleOptIn": True}},
        **shop_a.merchant,
    )
    assert pending["updateCustomerConsent"]["consent"]["status"] == "PENDING"
    message = await Message.get(customer_id=customer.id)
    assert message.purpose == Purpose.TRANSACTIONAL and link_in(message.body)
    assert enqueued(stub_broker) == [("send_message", (message.id,))]


async def test_other_changes_send_nothing(gql, shop_a, now, stub_broker):  # noqa: F811
    customer = await make_customer(shop_a, "a-1")
    as_shopper = shop_a.shopper("a-1")
    await gql.run(UPDATE, {"input": {"channel": "SMS", "subscribed": True}}, **as_shopper)
    await gql.run(UPDATE, {"input": {"channel": "EMAIL", "subscribed": False}}, **as_shopper)
    assert await Message.filter(customer_id=customer.id).count() == 0
    assert enqueued(stub_broker) == []


async def test_without_an_email_address_the_message_is_skipped(
    gql,
    shop_a,
    now,
    stub_broker,  # noqa: F811
):
    customer = await make_customer(shop_a, "a-1")
    await Customer.filter(id=customer.id).update(email=None)
    await gql.run(
        UPDATE, {"input": {"channel": "EMAIL", "subscribed": True}}, **shop_a.shopper("a-1")
    )
    message = await Message.get(customer_id=customer.id)
    assert message.status == MessageStatus.SKIPPED and message.reason == service.NO_ADDRESS
    assert enqueued(stub_broker) == []


async def test_the_shops_confirmation_template_is_used(gql, shop_a, now, stub_broker):  # noqa: F811
    customer = await make_customer(shop_a, "a-1")
    missing_link = await gql.run(
        SAVE,
        {
            "input": {
                "key": "consent_confirmation",
                "channel": "EMAIL",
                "purpose": "TRANSACTIONAL",
                "subject": "Confirm",
                "body": "Please confirm.",
            }
        },
        **shop_a.merchant,
    )
    [error] = missing_link["saveMessageTemplate"]["userErrors"]
    assert error["field"] == ["input", "body"] and "confirmation_url" in error["message"]

    saved = await gql.run(
        SAVE,
        {
            "input": {
                "key": "consent_confirmation",
                "channel": "EMAIL",
                "purpose": "TRANSACTIONAL",
                "subject": "One more step at {{ shop_name }}",
                "body": "Tap to confirm: {{ confirmation_url }}\n\nYou have {{ points_balance }}.",
            }
        },
        **shop_a.merchant,
    )
    assert saved["saveMessageTemplate"]["userErrors"] == []
    # confirmation_url belongs to that template only.
    other = await gql.run(
        SAVE,
        {"input": {"key": "hello", "channel": "EMAIL", "subject": "Hi",
                   "body": "{{ confirmation_url }}"}},
        **shop_a.merchant,
    )  # fmt: skip
    assert other["saveMessageTemplate"]["userErrors"][0]["code"] == "TEMPLATE_UNKNOWN_VARIABLE"

    await gql.run(
        UPDATE, {"input": {"channel": "EMAIL", "subscribed": True}}, **shop_a.shopper("a-1")
    )
    message = await Message.get(customer_id=customer.id)
    assert message.subject == "One more step at Shop A"
    assert message.body.startswith("Tap to confirm: https://loyalty.shop.example/consent/confirm?")
    assert message.template_id is not None and message.html is None
