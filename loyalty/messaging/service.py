"""Queueing and delivering messages: a row per send, claimed before the provider call.

Life of a message::

    queue_message -> QUEUED -> (deliver claims) SENDING -> SENT
                                    |-> SKIPPED (policy, with reason: final)
                                    |-> DEFERRED (policy, send_after + reason) -> claimed again
                                    |-> QUEUED again (retryable error: the caller retries)
                                    |-> FAILED (permanent error, code and message recorded)

- `queue_message` renders the template now (so the row holds what will be sent) and
  stores it; a repeated idempotency key returns the first row, and the same key for
  another customer or channel is an error. A customer without an address for the
  channel gets a SKIPPED row (reason `no_address`), so every send attempt is recorded.
  Nothing is enqueued here: the caller enqueues `send_message(message.id)` after its
  transaction commits (and `due_messages` sweeps up any that were missed).
- `deliver` claims the row with one guarded UPDATE (QUEUED, or DEFERRED whose time has
  come, to SENDING); when no row moved someone else has it, and it returns. Then the
  sending policy (`loyalty.messaging.policy.decide`) runs, then the channel adapter.
  A crash after the provider accepted the message but before SENT was written leaves
  the row in SENDING: it is never sent again automatically (exactly-once effects beat
  at-least-once delivery), see `stuck_sending` for the operator's view.
- Errors: a `RetryableSendError` (429, 5xx, timeouts) puts the row back to QUEUED with
  its code and is re-raised for the worker to retry with backoff; a
  `PermanentSendError` marks it FAILED with code and message and applies the code's
  consequences (`loyalty.messaging.send_errors`). A WhatsApp message refused with
  63016 (outside the 24-hour window) is sent again at once as its template's approved
  content template (`whatsapp_content_sid`, variables from `whatsapp_variables`); the
  row keeps the ContentSid it finally went with and the reason
  `whatsapp_template_fallback:63016`.
- Every marketing email carries an unsubscribe link (appended to the text, and to the
  HTML, when the template did not place `{{ unsubscribe_url }}` itself) and the
  one-click `List-Unsubscribe` and `List-Unsubscribe-Post` headers (RFC 8058), built
  from `loyalty.consent.links`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from loyalty import clock
from loyalty.channels import (
    Channel as ChannelAdapter,
)
from loyalty.channels import (
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
)
from loyalty.consent import links as consent_links
from loyalty.consent.models import Channel, Purpose
from loyalty.customers.models import Customer
from loyalty.errors import DomainError, NotFound
from loyalty.messaging import policy, send_errors
from loyalty.messaging.models import Message, MessageStatus, MessageTemplate
from loyalty.messaging.providers import LinkSettings
from loyalty.messaging.templates import (
    VARIABLES,
    TemplateError,
    personalisation,
    refuse_unsafe,
    render,
    sample_values,
    shop_name_of,
    validate_template,
)

log = logging.getLogger(__name__)

NO_ADDRESS = "no_address"
WHATSAPP_FALLBACK = "whatsapp_template_fallback:63016"
CHANNEL_NOT_CONFIGURED = "channel_not_configured"
#: A QUEUED row untouched for this long was probably never enqueued (or its task was
#: lost); it is longer than the worker's largest retry backoff.
STALE_QUEUED_AFTER = timedelta(minutes=15)
ONE_CLICK = "List-Unsubscribe=One-Click"
#: The longest a template's key, subject and WhatsApp ContentSid may be, by the field
#: an error names.
_LIMITS = {"key": 64, "subject": 255, "whatsappContentSid": 64}

Channels = Mapping[Channel, ChannelAdapter]


def _address(customer: Customer, channel: Channel) -> str | None:
    return customer.email if channel is Channel.EMAIL else customer.phone


def unsubscribe_url(message_or_customer: Message | Customer, link_settings: LinkSettings) -> str:
    """The marketing-email unsubscribe link for the customer of a message."""
    if isinstance(message_or_customer, Message):
        shop_id, customer_id = message_or_customer.shop_id, message_or_customer.customer_id
    else:
        shop_id, customer_id = message_or_customer.shop_id, message_or_customer.id
    token = consent_links.unsubscribe_token(
        link_settings.secret_key,
        shop_id=shop_id,
        customer_id=customer_id,
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
    )
    return consent_links.unsubscribe_url(link_settings.public_base_url, token)


def _with_text_footer(body: str, url: str) -> str:
    return body if url in body else f"{body.rstrip()}\n\nUnsubscribe: {url}\n"


def _with_html_footer(html: str, url: str) -> str:
    if escape(url) in html or url in html:
        return html
    footer = f'<p><a href="{escape(url)}">Unsubscribe</a></p>'
    at = html.lower().rfind("</body>")
    return html[:at] + footer + html[at:] if at >= 0 else html + footer


async def save_template(
    shop_id: int,
    key: str,
    channel: Channel,
    *,
    body: str,
    purpose: Purpose = Purpose.MARKETING,
    subject: str | None = None,
    html: str | None = None,
    whatsapp_content_sid: str | None = None,
    whatsapp_variables: list[str] | None = None,
    extra_variables: Iterable[str] = (),
) -> MessageTemplate:
    """Create or replace a merchant template after validating every part of it.

    Lengths are checked, then unsafe access (`templates.refuse_unsafe`, with sample
    personalisation), then the consent confirmation's rules (`confirmations.
    check_template`), then the rest. `extra_variables` names values the sender will
    pass as `context` (a flow's own fields) beyond the standard personalisation; the
    confirmation email's own are added.
    """
    # confirmations queues through this module, so it is imported when needed.
    from loyalty.messaging import confirmations

    lengths = {"key": key, "subject": subject, "whatsappContentSid": whatsapp_content_sid}
    for field, value in lengths.items():
        if value is not None and len(value) > _LIMITS[field]:
            raise DomainError("INVALID", f"at most {_LIMITS[field]} characters", field)
    sample = sample_values(await shop_name_of(shop_id))
    parts = (("subject", subject, False), ("body", body, False), ("html", html, True))
    for field, source, is_html in parts:
        if source:
            refuse_unsafe(source, field=field, sample=sample, html=is_html)
    confirmations.check_template(key, channel, body)
    allowed = VARIABLES | set(extra_variables) | confirmations.extra_variables(key, channel)
    channel, purpose = Channel(channel), Purpose(purpose)
    if not key.strip():
        raise DomainError("INVALID", "a template needs a key", "key")
    if channel is Channel.EMAIL and not (subject or "").strip():
        raise DomainError("INVALID", "an email template needs a subject", "subject")
    if not body.strip() and not whatsapp_content_sid:
        raise DomainError("INVALID", "a template needs a body", "body")
    validate_template(body, field="body", allowed=allowed)
    if subject:
        validate_template(subject, field="subject", allowed=allowed)
    if html:
        validate_template(html, field="html", html=True, allowed=allowed)
    variables = list(whatsapp_variables or [])
    unknown = sorted(set(variables) - allowed)
    if unknown:
        raise TemplateError(
            "TEMPLATE_UNKNOWN_VARIABLE",
            f"whatsappVariables: unknown variable {unknown[0]!r}",
            "whatsappVariables",
        )
    values = {
        "purpose": purpose,
        "subject": subject,
        "body": body,
        "html": html,
        "whatsapp_content_sid": whatsapp_content_sid,
        "whatsapp_variables": variables,
    }
    template, created = await MessageTemplate.get_or_create(
        shop_id=shop_id, key=key, channel=channel, defaults=values
    )
    if not created:
        template.update_from_dict(values)
        await template.save()
    return template


@dataclass(frozen=True)
class Rendered:
    """A message's text as it goes: the unsubscribe footers of a marketing email included."""

    subject: str | None
    body: str
    html: str | None


async def _template(shop_id: int, key: str, channel: Channel) -> MessageTemplate:
    template = await MessageTemplate.get_or_none(shop_id=shop_id, key=key, channel=channel)
    if template is None:
        raise NotFound(f"{channel.value} template {key!r}", "templateKey")
    return template


def _render(
    customer: Customer,
    channel: Channel,
    purpose: Purpose,
    values: dict[str, Any],
    subject: str | None,
    body: str,
    html: str | None,
    context: Mapping[str, Any] | None,
    link_settings: LinkSettings | None,
    *,
    live_links: bool = True,
) -> Rendered:
    """Render with `values` (the personalisation, completed here with `unsubscribe_url`
    and `context`); a marketing email gets its unsubscribe link. Previews get a
    placeholder: a working link would let whoever previews unsubscribe the customer."""
    url = None
    if channel is Channel.EMAIL and purpose is Purpose.MARKETING:
        settings = link_settings or LinkSettings.from_env()
        url = (
            unsubscribe_url(customer, settings)
            if live_links
            else f"{settings.public_base_url.rstrip('/')}/unsubscribe?token=preview"
        )
    values["unsubscribe_url"] = url
    values.update(context or {})

    rendered_subject = render(subject, values) if subject else None
    rendered_body = render(body, values) if body else ""
    rendered_html = render(html, values, html=True) if html else None
    if url is not None:
        rendered_body = _with_text_footer(rendered_body, url)
        if rendered_html is not None:
            rendered_html = _with_html_footer(rendered_html, url)
    return Rendered(rendered_subject, rendered_body, rendered_html)


async def preview(
    customer: Customer, template_key: str, channel: Channel, link_settings: LinkSettings
) -> Rendered:
    """The shop's template rendered for `customer` as `queue_message` would now, sending
    nothing (the consent confirmation email with a sample link)."""
    from loyalty.messaging import confirmations  # it queues through this module

    channel = Channel(channel)
    template = await _template(customer.shop_id, template_key, channel)
    values = await personalisation(customer)
    return _render(
        customer,
        channel,
        Purpose(template.purpose),
        values,
        template.subject,
        template.body,
        template.html,
        confirmations.preview_context(template_key, channel, link_settings),
        link_settings,
        live_links=False,
    )


def _check_same(existing: Message, customer: Customer, channel: Channel) -> Message:
    if existing.customer_id != customer.id or existing.channel != channel:
        raise DomainError(
            "IDEMPOTENCY_CONFLICT",
            "this idempotency key was used for another customer or channel",
            "idempotencyKey",
        )
    return existing


async def queue_message(
    customer: Customer,
    channel: Channel,
    purpose: Purpose,
    *,
    template_key: str | None = None,
    content: str | None = None,
    subject: str | None = None,
    html: str | None = None,
    source: str | None = None,
    idempotency_key: str | None = None,
    context: Mapping[str, Any] | None = None,
    voucher_code: str | None = None,
    link_settings: LinkSettings | None = None,
) -> Message:
    """Render and store one message for `customer` (QUEUED, or SKIPPED without address).

    Give a `template_key` (the shop's template for that channel) or raw `content`
    (itself a template, with `subject` and `html` for email). `context` adds values
    for the template; `voucher_code` fills `{{ voucher_code }}`.
    """
    channel, purpose = Channel(channel), Purpose(purpose)
    if idempotency_key:
        existing = await Message.get_or_none(
            shop_id=customer.shop_id, idempotency_key=idempotency_key
        )
        if existing is not None:
            return _check_same(existing, customer, channel)
    if (template_key is None) == (content is None):
        raise DomainError("INVALID", "give a template key or content, not both or neither")

    template: MessageTemplate | None = None
    if template_key is not None:
        template = await _template(customer.shop_id, template_key, channel)
        content, subject, html = template.body, template.subject, template.html
    assert content is not None
    if channel is Channel.EMAIL and not subject:
        raise DomainError("INVALID", "an email needs a subject", "subject")

    values = await personalisation(customer, voucher_code=voucher_code)
    rendered = _render(
        customer, channel, purpose, values, subject, content, html, context, link_settings
    )

    content_sid = None
    content_variables = None
    if channel is Channel.WHATSAPP and template is not None and template.whatsapp_content_sid:
        content_variables = {
            str(n): "" if values.get(name) is None else str(values.get(name))
            for n, name in enumerate(template.whatsapp_variables or [], start=1)
        }
        if not rendered.body.strip():
            content_sid = template.whatsapp_content_sid  # a template-only message

    address = _address(customer, channel)
    row: dict[str, Any] = {
        "shop_id": customer.shop_id,
        "customer_id": customer.id,
        "channel": channel,
        "purpose": purpose,
        "template_id": template.id if template else None,
        "to_address": address or "",
        "subject": rendered.subject,
        "body": rendered.body,
        "html": rendered.html,
        "content_sid": content_sid,
        "content_variables": content_variables,
        "idempotency_key": idempotency_key or None,
        "source": source,
    }
    if not address:
        row.update(status=MessageStatus.SKIPPED, reason=NO_ADDRESS)
    try:
        return await Message.create(**row)
    except IntegrityError:
        if not idempotency_key:
            raise
        existing = await Message.get(shop_id=customer.shop_id, idempotency_key=idempotency_key)
        return _check_same(existing, customer, channel)


def outbound_for(
    message: Message, link_settings: LinkSettings, *, content_sid: str | None = None
) -> OutboundMessage:
    """The adapter's view of a stored message, with the unsubscribe headers for email."""
    headers: dict[str, str] = {}
    if message.channel == Channel.EMAIL and message.purpose == Purpose.MARKETING:
        headers = {
            "List-Unsubscribe": f"<{unsubscribe_url(message, link_settings)}>",
            "List-Unsubscribe-Post": ONE_CLICK,
        }
    sid = content_sid or message.content_sid
    return OutboundMessage(
        channel=Channel(message.channel).value,  # type: ignore[arg-type]
        to=message.to_address,
        body="" if sid else message.body,
        subject=message.subject,
        html=message.html,
        headers=headers,
        content_sid=sid,
        content_variables=message.content_variables if sid else None,
        metadata={"message_id": str(message.id)},
    )


async def _claim(message_id: int, now: datetime) -> bool:
    claimable = Q(status=MessageStatus.QUEUED) | Q(
        status=MessageStatus.DEFERRED, send_after__lte=now
    )
    moved = await Message.filter(claimable, id=message_id).update(
        status=MessageStatus.SENDING, attempts=F("attempts") + 1, updated_at=now
    )
    return moved == 1


async def _finish(message: Message, **changes: Any) -> MessageStatus:
    """Move a message we hold (SENDING) on; the guard keeps a stray writer out."""
    changes.setdefault("updated_at", clock.now())
    await Message.filter(id=message.id, status=MessageStatus.SENDING).update(**changes)
    message.update_from_dict(changes)
    return MessageStatus(changes["status"])


async def _fallback_sid(message: Message) -> str | None:
    if message.channel != Channel.WHATSAPP or message.content_sid or message.template_id is None:
        return None
    template = await MessageTemplate.get_or_none(id=message.template_id, shop_id=message.shop_id)
    return template.whatsapp_content_sid if template else None


async def deliver(
    message_id: int, channels: Channels, *, link_settings: LinkSettings | None = None
) -> MessageStatus:
    """Claim, apply the policy, send; returns the status the message is left in.

    Raises `RetryableSendError` (after putting the row back to QUEUED) when the
    provider asks us to try again later. Safe to call any number of times.
    """
    now = clock.now()
    if not await _claim(message_id, now):
        current = await Message.get_or_none(id=message_id).values_list("status", flat=True)
        if current is None:
            raise NotFound(f"message {message_id}")
        log.info("message %s not claimed: it is %s", message_id, current)
        return MessageStatus(current)
    message = await Message.get(id=message_id)
    try:
        decision = await policy.decide(message, now)
    except Exception:
        await _finish(message, status=MessageStatus.QUEUED)
        raise
    if decision.action == "skip":
        log.info("message %s skipped: %s", message.id, decision.reason)
        return await _finish(message, status=MessageStatus.SKIPPED, reason=decision.reason)
    if decision.action == "defer":
        log.info("message %s deferred to %s: %s", message.id, decision.until, decision.reason)
        return await _finish(
            message,
            status=MessageStatus.DEFERRED,
            send_after=decision.until,
            reason=decision.reason,
        )

    adapter = channels.get(Channel(message.channel))
    if adapter is None:
        return await _finish(
            message,
            status=MessageStatus.FAILED,
            error_code=CHANNEL_NOT_CONFIGURED,
            error_message=f"no {message.channel} provider is configured",
        )
    link_settings = link_settings or LinkSettings.from_env()
    reason = None
    try:
        try:
            result = await adapter.send(outbound_for(message, link_settings))
        except PermanentSendError as exc:
            window = exc.code == send_errors.OUTSIDE_WHATSAPP_WINDOW
            sid = await _fallback_sid(message) if window else None
            if sid is None:
                raise
            # Keep the ContentSid on the row first, so a retry goes straight to the template.
            await Message.filter(id=message.id, status=MessageStatus.SENDING).update(
                content_sid=sid
            )
            message.content_sid = sid
            reason = WHATSAPP_FALLBACK
            log.info("message %s: 63016, sending WhatsApp template %s", message.id, sid)
            result = await adapter.send(outbound_for(message, link_settings))
    except RetryableSendError as exc:
        await _finish(
            message,
            status=MessageStatus.QUEUED,
            error_code=exc.code,
            error_message=exc.message,
            reason=reason,
        )
        raise
    except PermanentSendError as exc:
        status = await _finish(
            message,
            status=MessageStatus.FAILED,
            error_code=exc.code,
            error_message=exc.message,
            reason=reason,
        )
        await send_errors.apply_send_error(
            message,
            exc.code,
            evidence={"provider": getattr(adapter, "provider", None), "error": exc.message},
        )
        return status
    except Exception as exc:
        # A fault of ours before or inside the adapter: we cannot tell whether the
        # provider got the message, so it is never retried automatically.
        log.exception("message %s: unexpected error while sending", message.id)
        return await _finish(
            message,
            status=MessageStatus.FAILED,
            error_code="internal_error",
            error_message=f"{type(exc).__name__}: {exc}",
        )
    return await _finish(
        message,
        status=MessageStatus.SENT,
        provider=result.provider,
        provider_id=result.provider_id or None,
        sent_at=clock.now(),
        error_code=None,
        error_message=None,
        reason=reason,
    )


async def queue_whatsapp_fallback(message: Message) -> Message | None:
    """For a 63016 reported later by a status callback: a new row that sends the same
    message as its template's WhatsApp content template, or None when there is none.

    Idempotent (key `<message id>:whatsapp-template`); the caller enqueues
    `send_message` for the returned row after its transaction commits.
    """
    sid = await _fallback_sid(message)
    if sid is None:
        return None
    key = f"{message.id}:whatsapp-template"
    existing = await Message.get_or_none(shop_id=message.shop_id, idempotency_key=key)
    if existing is not None:
        return existing
    try:
        return await Message.create(
            shop_id=message.shop_id,
            customer_id=message.customer_id,
            channel=Channel.WHATSAPP,
            purpose=message.purpose,
            template_id=message.template_id,
            to_address=message.to_address,
            body=message.body,
            content_sid=sid,
            content_variables=message.content_variables,
            idempotency_key=key,
            source=message.source,
            reason=WHATSAPP_FALLBACK,
        )
    except IntegrityError:
        return await Message.get(shop_id=message.shop_id, idempotency_key=key)


async def give_up(message_id: int, detail: str) -> bool:
    """Retries ran out: a message waiting for its next attempt becomes FAILED."""
    moved = await Message.filter(id=message_id, status=MessageStatus.QUEUED).update(
        status=MessageStatus.FAILED,
        reason=detail[:255],
        updated_at=clock.now(),
    )
    return moved == 1


async def due_messages(now: datetime) -> list[int]:
    """Messages that should be (re-)enqueued: DEFERRED whose time has come, and QUEUED
    ones untouched for STALE_QUEUED_AFTER (lost on the way to the broker). Enqueueing
    one twice is harmless: only one `deliver` can claim it."""
    due = Q(status=MessageStatus.DEFERRED, send_after__lte=now) | Q(
        status=MessageStatus.QUEUED, updated_at__lt=now - STALE_QUEUED_AFTER
    )
    return list(await Message.filter(due).order_by("id").values_list("id", flat=True))


async def stuck_sending(now: datetime, older_than: timedelta = timedelta(hours=1)) -> list[int]:
    """Messages left in SENDING by a crash: the provider may or may not have them."""
    return list(
        await Message.filter(status=MessageStatus.SENDING, updated_at__lt=now - older_than)
        .order_by("id")
        .values_list("id", flat=True)
    )
