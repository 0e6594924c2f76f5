"""What Twilio tells us after a send (status callbacks) and what shoppers text back (keywords).

HTTP-free: `loyalty.messaging.inbound_routes` checks the X-Twilio-Signature and hands the
verified form parameters to `apply_status` or `handle_inbound`.

Status callbacks
    The Message is found by `MessageSid` (our `provider_id`), within the shop named in
    the URL when there is one. An unknown sid is logged and ignored. A status only moves
    forwards, in this order (equal ranks do not replace each other)::

        queued, deferred  <  sending  <  sent  <  undelivered = failed  <  delivered  <  read

    so a late `sent` after `delivered` changes nothing, and a delivery or read receipt,
    being proof the handset got the message, wins over an earlier failure report. A
    callback that does not move the status changes nothing at all (a repeat is a no-op),
    and the consequences of an error are applied in the same transaction as the move, by
    `loyalty.messaging.send_errors.apply_send_error` (the rules for errors returned when
    sending, so both paths agree):

    - 21610 (recipient replied STOP to the sender): every purpose of that channel is
      unsubscribed via `record_provider_opt_out`, with the callback as evidence.
    - 21211 (invalid To): the address is suppressed (invalid_address).
    - 30003, 30005, 30006 (unreachable handset, unknown or landline destination): when the
      last three messages to that address on that channel that reached a final status
      all failed with one of these codes, the address is suppressed (repeated_failure).
      A delivery, or a failure for another reason, breaks the run.

Inbound messages
    `From` is E.164 for SMS or `whatsapp:+44...` for WhatsApp (the channel follows). The
    shop is the one in the URL, else every shop whose sender (`sms_from`, `whatsapp_from`
    or `messaging_service_sid`) matches `To` / `MessagingServiceSid`. The body is trimmed
    and upper-cased, and its first word (without surrounding punctuation) is looked up in
    the shop's keyword lists (defaults in `loyalty.messaging.models`). A word configured
    in more than one list counts as STOP first, then START, then HELP. When Twilio's
    Advanced Opt-Out handled the message (`OptOutType` STOP or START), that wins: Twilio
    has already blocked or unblocked the sender, and our consent must agree.

    - STOP-type: `record_stop_reply` for every customer of the shop with that phone,
      evidence: the sending number (`To`) and the message as received, plus MessageSid.
      Twilio's own Advanced Opt-Out may already have blocked the sender: we record it all
      the same, since our consent must say so too.
    - START-type: a re-subscription. Every purpose of the channel that is currently
      unsubscribed goes back to subscribed (lawful basis consent), source `stop_reply`
      (the keyword-reply source: the only system source for a text sent to the shop's
      number), evidence keyword, sending number, message. A customer who never
      subscribed is not subscribed by texting YES: that word is too often a reply to
      something else to count as consent to marketing.
    - HELP-type: the reply is the shop's `help_text`.
    - Anything else: no reply, nothing stored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.consent import service as consent
from loyalty.consent.models import Channel, ConsentSource, ConsentStatus, Purpose
from loyalty.customers.models import Customer
from loyalty.customers.service import normalise_phone
from loyalty.errors import DomainError
from loyalty.messaging import send_errors
from loyalty.messaging.models import (
    Message,
    MessageStatus,
    MessagingSettings,
    default_help_keywords,
    default_start_keywords,
    default_stop_keywords,
)
from loyalty.shops.models import Shop

log = logging.getLogger(__name__)

WHATSAPP_PREFIX = "whatsapp:"

# Higher ranks win; equal ranks do not replace each other. SKIPPED is never moved.
STATUS_RANK: dict[MessageStatus, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.DEFERRED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.READ: 5,
}
# Twilio's MessageStatus values that we record (others, e.g. accepted, are logged only).
CALLBACK_STATUSES: dict[str, MessageStatus] = {
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.SENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "read": MessageStatus.READ,
}
FAILURE_STATUSES = send_errors.FAILURE_STATUSES
# For a shop without messaging settings: the model's own default.
DEFAULT_HELP_TEXT: str = MessagingSettings._meta.fields_map["help_text"].default

_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class StatusOutcome:
    """What a status callback did: `changed` is False for unknown, stale or repeated ones."""

    changed: bool
    detail: str
    message_id: int | None = None


def _param(params: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = params.get(name)
        if value:
            return value.strip()
    return ""


async def _find_message(sid: str, shop_public_id: str | None) -> Message | None:
    query = Message.filter(provider_id=sid)
    if shop_public_id is not None:
        query = query.filter(shop__public_id=shop_public_id)
    return await query.order_by("id").first()


async def apply_status(
    params: Mapping[str, str], shop_public_id: str | None = None
) -> StatusOutcome:
    """Apply one verified status callback; safe to repeat and to receive out of order."""
    sid = _param(params, "MessageSid", "SmsSid")
    raw_status = _param(params, "MessageStatus", "SmsStatus").lower()
    error_code = _param(params, "ErrorCode") or None
    if not sid:
        log.warning("twilio status callback without MessageSid ignored")
        return StatusOutcome(False, "no MessageSid")
    status = CALLBACK_STATUSES.get(raw_status)
    if status is None:
        log.info("twilio status %r for %s not recorded", raw_status, sid)
        return StatusOutcome(False, f"status {raw_status!r} not recorded")
    message = await _find_message(sid, shop_public_id)
    if message is None:
        log.warning(
            "twilio status callback for unknown message %s (shop %s) ignored", sid, shop_public_id
        )
        return StatusOutcome(False, "unknown message")
    for _ in range(_MAX_ATTEMPTS):
        current = MessageStatus(message.status)
        if current not in STATUS_RANK or STATUS_RANK[status] <= STATUS_RANK[current]:
            log.info(
                "twilio status %s for message %s ignored: it is already %s",
                status.value,
                message.id,
                current.value,
            )
            return StatusOutcome(False, f"already {current.value}", message.id)
        now = clock.now()
        changes: dict[str, Any] = {"status": status, "updated_at": now}
        if error_code is not None:
            changes["error_code"] = error_code
        if status in (MessageStatus.DELIVERED, MessageStatus.READ) and not message.delivered_at:
            changes["delivered_at"] = now
        async with in_transaction():
            moved = await Message.filter(id=message.id, status=current).update(**changes)
            if moved:
                for name, value in changes.items():
                    setattr(message, name, value)
                if status in FAILURE_STATUSES and error_code is not None:
                    await _error_consequences(message, error_code, params)
                return StatusOutcome(True, status.value, message.id)
        await message.refresh_from_db()  # another callback moved it first: decide again
    raise DomainError("CONFLICT", "message status is changing concurrently, try again")


async def _error_consequences(message: Message, error_code: str, params: Mapping[str, str]) -> None:
    """The same rules as for errors returned when sending, in one place."""
    await send_errors.apply_send_error(
        message,
        error_code,
        evidence={
            "provider": "twilio",
            "source": "status_callback",
            "message_sid": message.provider_id,
            "message_status": MessageStatus(message.status).value,
            "from": _param(params, "From"),
        },
    )


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


# Twilio's Advanced Opt-Out marks the keywords it acted on (it blocks or unblocks the
# sender for that recipient whatever our lists say), so these win over the shop's lists.
TWILIO_OPT_OUT_TYPES = {"STOP": Keyword.STOP, "START": Keyword.START}


@dataclass(frozen=True)
class InboundOutcome:
    """What an inbound message did, and the text to reply with (None: no reply)."""

    reply: str | None
    keyword: Keyword | None
    shops: int
    customers: int


_EDGE_PUNCTUATION = re.compile(r"^[^\w]+|[^\w]+$")


def first_word(body: str) -> str:
    """The body's first word, trimmed, upper-cased and without surrounding punctuation."""
    words = body.strip().upper().split()
    return _EDGE_PUNCTUATION.sub("", words[0]) if words else ""


def _words(values: Any, default: list[str]) -> set[str]:
    if not isinstance(values, list):
        values = default
    return {str(v).strip().upper() for v in values if str(v).strip()}


def classify(body: str, settings: MessagingSettings | None) -> Keyword | None:
    """The keyword the body's first word is, with the shop's lists (or the defaults)."""
    word = first_word(body)
    if not word:
        return None
    lists = (
        (Keyword.STOP, settings.stop_keywords if settings else None, default_stop_keywords()),
        (Keyword.START, settings.start_keywords if settings else None, default_start_keywords()),
        (Keyword.HELP, settings.help_keywords if settings else None, default_help_keywords()),
    )
    for keyword, configured, default in lists:
        if word in _words(configured, default):
            return keyword
    return None


def sender_channel(from_: str) -> tuple[Channel, str]:
    """The channel and the bare address of an inbound `From`."""
    if from_.lower().startswith(WHATSAPP_PREFIX):
        return Channel.WHATSAPP, from_[len(WHATSAPP_PREFIX) :].strip()
    return Channel.SMS, from_.strip()


def _e164(number: str) -> str:
    try:
        return normalise_phone(number, None)
    except DomainError:
        return number


async def _shops_for(
    params: Mapping[str, str], channel: Channel, shop_public_id: str | None
) -> list[tuple[Shop, MessagingSettings | None]] | None:
    """The shops the message was sent to; None when the URL names an unknown shop."""
    if shop_public_id is not None:
        shop = await Shop.get_or_none(public_id=shop_public_id)
        if shop is None:
            return None
        return [(shop, await MessagingSettings.get_or_none(shop_id=shop.id))]
    to = _param(params, "To")
    bare_to = to[len(WHATSAPP_PREFIX) :] if to.lower().startswith(WHATSAPP_PREFIX) else to
    service_sid = _param(params, "MessagingServiceSid")
    match = Q(id=-1)
    if bare_to:
        if channel is Channel.WHATSAPP:
            match |= Q(whatsapp_from__in=[bare_to, WHATSAPP_PREFIX + bare_to])
        else:
            match |= Q(sms_from=bare_to)
    if service_sid:
        match |= Q(messaging_service_sid=service_sid)
    rows = await MessagingSettings.filter(match).order_by("shop_id").prefetch_related("shop")
    return [(row.shop, row) for row in rows]


async def handle_inbound(
    params: Mapping[str, str], shop_public_id: str | None = None
) -> InboundOutcome | None:
    """Act on one verified inbound message; None when the URL names an unknown shop."""
    body = params.get("Body") or ""
    to = _param(params, "To")
    channel, from_address = sender_channel(_param(params, "From"))
    shops = await _shops_for(params, channel, shop_public_id)
    if shops is None:
        return None
    if not shops:
        log.warning("twilio inbound message %s to an unknown sender", _param(params, "MessageSid"))
        return InboundOutcome(None, None, 0, 0)
    phone = _e164(from_address)
    reply: str | None = None
    first_keyword: Keyword | None = None
    customers_done = 0
    twilio_opt_out = _param(params, "OptOutType").upper()
    for shop, settings in shops:
        keyword = classify(body, settings)
        if twilio_opt_out in TWILIO_OPT_OUT_TYPES:  # Twilio already acted on it: so must we
            keyword = TWILIO_OPT_OUT_TYPES[twilio_opt_out]
        first_keyword = first_keyword or keyword
        if keyword is None:
            continue
        if keyword is Keyword.HELP:
            if reply is None:
                help_text = settings.help_text if settings else None
                reply = help_text or DEFAULT_HELP_TEXT
            continue
        evidence = {"keyword": first_word(body), "message_sid": _param(params, "MessageSid")}
        if twilio_opt_out:
            evidence["twilio_opt_out_type"] = twilio_opt_out
        customers = await Customer.filter(shop_id=shop.id, phone=phone) if phone else []
        for customer in customers:
            if keyword is Keyword.STOP:
                await consent.record_stop_reply(
                    customer,
                    channel,
                    sending_number=to,
                    message=body.strip(),
                    evidence=evidence,
                )
            else:
                await _resubscribe(customer, channel, to, body.strip(), evidence)
        customers_done += len(customers)
        log.info(
            "twilio %s reply on %s for shop %s: %d customer(s)",
            keyword.value,
            channel.value,
            shop.public_id,
            len(customers),
        )
    return InboundOutcome(reply, first_keyword, len(shops), customers_done)


async def _resubscribe(
    customer: Customer, channel: Channel, to: str, body: str, evidence: dict[str, Any]
) -> None:
    for purpose in Purpose:
        state = await consent.get_state(customer, channel, purpose)
        if state is None or state.status != ConsentStatus.UNSUBSCRIBED:
            continue
        await consent.change_consent(
            customer,
            channel,
            purpose,
            ConsentStatus.SUBSCRIBED,
            source=ConsentSource.STOP_REPLY,
            evidence={**evidence, "sending_number": to, "message": body},
        )
