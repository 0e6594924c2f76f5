"""Marketing email end to end over SMTP (aiosmtpd): unsubscribe link and RFC 8058 headers."""

from __future__ import annotations

from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlsplit

from loyalty.channels import SmtpEmailChannel
from loyalty.consent import links
from loyalty.consent import service as consent
from loyalty.consent.models import Channel, ConsentState, ConsentStatus, Purpose
from loyalty.messaging import service
from loyalty.messaging.models import Message, MessageStatus
from loyalty.programme.models import Reward, RewardKind, Tier
from tests.channels.test_channels_smtp import Mailbox, smtp_server  # noqa: F401  (fixture)
from tests.messaging.conftest import LINKS, SECRET, make_customer


def smtp(port: int) -> dict[Channel, SmtpEmailChannel]:
    return {
        Channel.EMAIL: SmtpEmailChannel(
            host="127.0.0.1",
            port=port,
            from_address="Corner Shop <hello@shop.example>",
            start_tls=False,
            timeout=5,
        )
    }


def token_of(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == LINKS.public_base_url
    assert parts.path == links.UNSUBSCRIBE_PATH
    return parse_qs(parts.query)["token"][0]


async def test_marketing_email_over_smtp_with_one_click_unsubscribe(shop, smtp_server):  # noqa: F811
    mailbox = Mailbox()
    channels = smtp(await smtp_server(mailbox))
    customer = await make_customer(shop, first_name="Zoë")
    gold = await Tier.create(shop=shop, name="Gold", threshold=0)
    await customer.__class__.filter(id=customer.id).update(points_balance=120, tier_id=gold.id)
    await customer.refresh_from_db()
    await Reward.create(shop=shop, name="£5 off", kind=RewardKind.FIXED_AMOUNT, points_cost=200)
    await service.save_template(
        shop.id,
        "balance",
        Channel.EMAIL,
        subject="{{ first_name }}, you have {{ points_balance }} points",
        body="You are {{ tier }}. {{ points_to_next_reward }} more for {{ next_reward }}.",
        html="<p>You are <b>{{ tier }}</b>, {{ first_name }}.</p><p>Unsubscribe: "
        '<a href="{{ unsubscribe_url }}">here</a></p>',
    )
    queued = await service.queue_message(
        customer,
        Channel.EMAIL,
        Purpose.MARKETING,
        template_key="balance",
        source="campaign:3",
        link_settings=LINKS,
    )

    status = await service.deliver(queued.id, channels, link_settings=LINKS)

    assert status == MessageStatus.SENT
    [envelope] = mailbox.envelopes
    assert envelope.rcpt_tos == ["c1@example.com"]
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    message = await Message.get(id=queued.id)
    assert message.provider == "smtp" and received["Message-ID"] == message.provider_id
    assert received["Subject"] == "Zoë, you have 120 points"
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert text.startswith("You are Gold. 80 more for £5 off.")

    # The header (one-click, RFC 8058) and both bodies carry a valid unsubscribe link.
    header = received["List-Unsubscribe"].strip()
    assert header.startswith("<") and header.endswith(">")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body_url = text.rsplit("Unsubscribe: ", 1)[1].strip()
    assert f'href="{body_url}"' in html  # placed by the template, not appended twice
    assert html.count("Unsubscribe") == 1
    for url in (header[1:-1], body_url):
        claims = links.read_unsubscribe(SECRET, token_of(url))
        assert (claims.shop_id, claims.customer_id) == (shop.id, customer.id)
        assert (claims.channel, claims.purpose) == (Channel.EMAIL, Purpose.MARKETING)

    # Following the one-click link unsubscribes, and the next email is skipped.
    await consent.unsubscribe_by_token(token_of(header[1:-1]), secret_key=SECRET)
    state = await ConsentState.get(
        customer_id=customer.id, channel=Channel.EMAIL, purpose=Purpose.MARKETING
    )
    assert state.status == ConsentStatus.UNSUBSCRIBED
    again = await service.queue_message(
        customer,
        Channel.EMAIL,
        Purpose.MARKETING,
        template_key="balance",
        link_settings=LINKS,
    )
    assert await service.deliver(again.id, channels, link_settings=LINKS) == (MessageStatus.SKIPPED)
    assert len(mailbox.envelopes) == 1


async def test_link_is_appended_when_the_template_has_none(shop, smtp_server):  # noqa: F811
    mailbox = Mailbox()
    channels = smtp(await smtp_server(mailbox))
    customer = await make_customer(shop)
    queued = await service.queue_message(
        customer,
        Channel.EMAIL,
        Purpose.MARKETING,
        content="Double points this weekend!",
        subject="Double points",
        html="<html><body><p>Double points this weekend!</p></body></html>",
        link_settings=LINKS,
    )

    await service.deliver(queued.id, channels, link_settings=LINKS)

    received = message_from_bytes(mailbox.envelopes[0].original_content, policy=policy.default)
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    url = text.rsplit("Unsubscribe: ", 1)[1].strip()
    links.read_unsubscribe(SECRET, token_of(url))
    assert f'<p><a href="{url}">Unsubscribe</a></p></body>' in html


async def test_transactional_email_has_no_list_unsubscribe(shop, smtp_server):  # noqa: F811
    mailbox = Mailbox()
    channels = smtp(await smtp_server(mailbox))
    customer = await make_customer(shop, subscribed=())
    queued = await service.queue_message(
        customer,
        Channel.EMAIL,
        Purpose.TRANSACTIONAL,
        content="Your voucher code is {{ voucher_code }}.",
        subject="Your reward",
        voucher_code="LOY-7K2P",
        link_settings=LINKS,
    )

    assert await service.deliver(queued.id, channels, link_settings=LINKS) == MessageStatus.SENT

    received = message_from_bytes(mailbox.envelopes[0].original_content, policy=policy.default)
    assert received["List-Unsubscribe"] is None
    assert received.get_content().strip() == "Your voucher code is LOY-7K2P."
