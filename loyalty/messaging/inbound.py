"""What Twilio tells us after a send (status callbacks) and what shoppers text back (keywords).

HTTP-free: `loyalty.messaging.inbound_routes` checks the X-Twilio-Signature and hands the
verified form parameters to `apply_status` or `receive_inbound`.

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
    Twilio never resends an inbound message, so each verified one is stored first
    (`InboundMessage`, the shop named in the URL on the row), then processed from the
    row in the same request. MessageSid is unique: a repeat is a replay and changes
    nothing (a HELP is answered again). The consent changes and the move to PROCESSED
    commit together. On any exception they roll back, the row is FAILED with its error,
    and Twilio gets an empty 200. The sweep calls `retry_failed_inbound` to try FAILED
    rows again (at most `MAX_INBOUND_ATTEMPTS` attempts in all). A consent that changed
    after the message was received is left as it is, and so is a STOP or START when a
    later STOP or START from the same sender to that shop has been processed: the later
    choice wins over an older reply processed late.

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
    - Anything else: no reply, no consent change (the message is stored all the same).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError
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
    InboundMessage,
    InboundStatus,
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
# A FAILED inbound message is tried this many times in all, then left FAILED for a person.
MAX_INBOUND_ATTEMPTS = 5


@dataclass(frozen=True)
class StatusOutcome:
    """What a status callback did: `changed` is False for unknown, stale or repeated ones."""

    changed: bool
    detail: str
    message_id: int | None = None


def _param(params: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = params.get(name)
        if value:
            return str(value).strip()
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
    status: InboundStatus = InboundStatus.PROCESSED
    duplicate: bool = False


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
    params: Mapping[str, Any], channel: Channel, shop_id: int | None
) -> list[tuple[Shop, MessagingSettings | None]]:
    """The shops the message was sent to: the one named in the URL, else by To / service."""
    if shop_id is not None:
        shop = await Shop.get(id=shop_id)
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


def _keyword(body: str, settings: MessagingSettings | None, twilio_opt_out: str) -> Keyword | None:
    if twilio_opt_out in TWILIO_OPT_OUT_TYPES:  # Twilio already acted on it: so must we
        return TWILIO_OPT_OUT_TYPES[twilio_opt_out]
    return classify(body, settings)


def _help_reply(settings: MessagingSettings | None) -> str:
    return (settings.help_text if settings else None) or DEFAULT_HELP_TEXT


def _sid(params: Mapping[str, Any]) -> str:
    """MessageSid (or SmsSid), else a hash of every parameter: the key that dedupes."""
    sid = _param(params, "MessageSid", "SmsSid")
    if sid:
        return sid
    canonical = json.dumps(sorted((str(k), str(v)) for k, v in params.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def store_inbound(
    params: Mapping[str, Any], shop: Shop | None = None
) -> tuple[InboundMessage, bool]:
    """Store one verified inbound message; (the row, False) when its MessageSid was seen."""
    channel, from_address = sender_channel(_param(params, "From"))
    sid = _sid(params)
    try:
        row = await InboundMessage.create(
            shop=shop,
            message_sid=sid,
            channel=channel,
            from_address=from_address,
            to_address=_param(params, "To"),
            body=str(params.get("Body") or ""),
            params={str(k): str(v) for k, v in params.items()},
            received_at=clock.now(),
        )
    except IntegrityError:
        existing = await InboundMessage.get_or_none(message_sid=sid)
        if existing is None:
            raise
        return existing, False
    return row, True


async def receive_inbound(
    params: Mapping[str, Any], shop_public_id: str | None = None
) -> InboundOutcome | None:
    """Store one verified inbound message, then act on it at once.

    None when the URL names an unknown shop (nothing is stored). A repeated MessageSid
    (Twilio never resends, so it is a replay) changes nothing: it only gets the HELP
    reply again. A failure leaves the row FAILED for the sweep and gets no reply.
    """
    shop: Shop | None = None
    if shop_public_id is not None:
        shop = await Shop.get_or_none(public_id=shop_public_id)
        if shop is None:
            return None
    row, created = await store_inbound(params, shop)
    if not created:
        log.info("twilio inbound message %s received again: ignored", row.message_sid)
        return await _repeat(row)
    return await process_inbound(row.id)


async def _repeat(row: InboundMessage) -> InboundOutcome:
    """What a message already stored answers: its HELP reply, and nothing is done."""
    params = row.params or {}
    body = row.body
    opt_out = _param(params, "OptOutType").upper()
    shops = await _shops_for(params, Channel(row.channel), row.shop_id)
    reply: str | None = None
    first_keyword: Keyword | None = None
    for _shop, settings in shops:
        keyword = _keyword(body, settings, opt_out)
        first_keyword = first_keyword or keyword
        if keyword is Keyword.HELP and reply is None:
            reply = _help_reply(settings)
    return InboundOutcome(reply, first_keyword, len(shops), 0, duplicate=True)


class _AlreadyHandled(Exception):
    """Another attempt moved the row first: roll this one back."""


async def process_inbound(inbound_id: int) -> InboundOutcome:
    """Act on a stored inbound message; a processed one only answers (see `_repeat`).

    The consent changes and the move to PROCESSED commit together. Any exception rolls
    them back, and the row is FAILED with the error (logged, not raised).
    """
    row = await InboundMessage.get(id=inbound_id)
    if row.status == InboundStatus.PROCESSED:
        return await _repeat(row)
    attempt = row.attempts + 1
    try:
        async with in_transaction():
            outcome = await _apply(row)
            moved = await InboundMessage.filter(
                id=row.id, status=row.status, attempts=row.attempts
            ).update(
                status=InboundStatus.PROCESSED,
                attempts=attempt,
                error=None,
                processed_at=clock.now(),
            )
            if not moved:
                raise _AlreadyHandled
    except _AlreadyHandled:
        log.info("twilio inbound message %s was processed concurrently", row.message_sid)
        return await _repeat(row)
    except Exception as exc:
        log.exception(
            "twilio inbound message %s (attempt %d) failed: kept for retry",
            row.message_sid,
            attempt,
        )
        await InboundMessage.filter(id=row.id).update(
            status=InboundStatus.FAILED,
            attempts=attempt,
            error=f"{type(exc).__name__}: {exc}",
            processed_at=clock.now(),
        )
        return InboundOutcome(None, None, 0, 0, status=InboundStatus.FAILED)
    return outcome


async def retry_failed_inbound(
    older_than: timedelta, max_attempts: int = MAX_INBOUND_ATTEMPTS
) -> list[int]:
    """Process again the FAILED inbound messages received before `older_than` ago that
    have had fewer than `max_attempts` attempts; returns the ids tried."""
    cutoff = clock.now() - older_than
    ids = await (
        InboundMessage.filter(
            status=InboundStatus.FAILED, attempts__lt=max_attempts, received_at__lt=cutoff
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    for inbound_id in ids:
        await process_inbound(inbound_id)
    return list(ids)


async def _apply(row: InboundMessage) -> InboundOutcome:
    """The keyword rules, for one stored message."""
    params = row.params or {}
    body = row.body
    to = row.to_address
    channel = Channel(row.channel)
    shops = await _shops_for(params, channel, row.shop_id)
    if not shops:
        log.warning("twilio inbound message %s to an unknown sender", row.message_sid)
        return InboundOutcome(None, None, 0, 0)
    phone = _e164(row.from_address)
    reply: str | None = None
    first_keyword: Keyword | None = None
    customers_done = 0
    twilio_opt_out = _param(params, "OptOutType").upper()
    for shop, settings in shops:
        keyword = _keyword(body, settings, twilio_opt_out)
        first_keyword = first_keyword or keyword
        if keyword is None:
            continue
        if keyword is Keyword.HELP:
            if reply is None:
                reply = _help_reply(settings)
            continue
        if await _superseded(row, shop):
            log.info(
                "twilio %s reply %s for shop %s not applied: a later STOP or START was",
                keyword.value,
                row.message_sid,
                shop.public_id,
            )
            continue
        evidence = {"keyword": first_word(body), "message_sid": _param(params, "MessageSid")}
        if twilio_opt_out:
            evidence["twilio_opt_out_type"] = twilio_opt_out
        customers = await Customer.filter(shop_id=shop.id, phone=phone) if phone else []
        for customer in customers:
            if keyword is Keyword.STOP:
                await _stop(customer, channel, to, body.strip(), evidence, row.received_at)
            else:
                await _resubscribe(customer, channel, to, body.strip(), evidence, row.received_at)
        customers_done += len(customers)
        log.info(
            "twilio %s reply on %s for shop %s: %d customer(s)",
            keyword.value,
            channel.value,
            shop.public_id,
            len(customers),
        )
    return InboundOutcome(reply, first_keyword, len(shops), customers_done)


async def _superseded(row: InboundMessage, shop: Shop) -> bool:
    """Whether a later STOP or START from the same sender to this shop was applied first
    (this one failed and is being retried): the later reply wins."""
    later = await InboundMessage.filter(
        channel=row.channel,
        from_address=row.from_address,
        status=InboundStatus.PROCESSED,
        id__gt=row.id,
    )
    for other in later:
        params = other.params or {}
        opt_out = _param(params, "OptOutType").upper()
        for target, settings in await _shops_for(params, Channel(other.channel), other.shop_id):
            if target.id == shop.id and _keyword(other.body, settings, opt_out) in (
                Keyword.STOP,
                Keyword.START,
            ):
                return True
    return False


async def _changed_since(
    customer: Customer, channel: Channel, purpose: Purpose, received_at: datetime
) -> bool:
    """Whether the consent moved after the message was received: the later choice wins."""
    state = await consent.get_state(customer, channel, purpose)
    return state is not None and state.updated_at > received_at


async def _stop(
    customer: Customer,
    channel: Channel,
    to: str,
    body: str,
    evidence: dict[str, Any],
    received_at: datetime,
) -> None:
    current = [p for p in Purpose if not await _changed_since(customer, channel, p, received_at)]
    if len(current) == len(Purpose):
        await consent.record_stop_reply(
            customer, channel, sending_number=to, message=body, evidence=evidence
        )
        return
    log.info(
        "stop reply for customer %s on %s: %s changed since, left as is",
        customer.id,
        channel.value,
        ", ".join(sorted(p.value for p in set(Purpose) - set(current))) or "-",
    )
    if current:
        await consent.unsubscribe(
            customer,
            channel,
            current,
            source=ConsentSource.STOP_REPLY,
            evidence={**evidence, "sending_number": to, "message": body},
        )


async def _resubscribe(
    customer: Customer,
    channel: Channel,
    to: str,
    body: str,
    evidence: dict[str, Any],
    received_at: datetime,
) -> None:
    for purpose in Purpose:
        state = await consent.get_state(customer, channel, purpose)
        if state is None or state.status != ConsentStatus.UNSUBSCRIBED:
            continue
        if state.updated_at > received_at:  # a later choice wins over this older reply
            continue
        await consent.change_consent(
            customer,
            channel,
            purpose,
            ConsentStatus.SUBSCRIBED,
            source=ConsentSource.STOP_REPLY,
            evidence={**evidence, "sending_number": to, "message": body},
        )
