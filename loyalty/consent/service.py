"""Consent rules: who may be sent what, on which channel, and the history that proves it.

Every change goes through `change_consent`, which moves the state row and appends one
`ConsentEvent` in the same transaction. Rules, in one place:

- **No-ops.** A change to the status and lawful basis already held writes nothing,
  with one exception: a re-subscription that carries consent evidence (a form id or a
  wording version) appends a re-confirmation event, so fresher proof is kept. A
  second pending request (the shopper asks again for a confirmation email) is a
  change: it gets a new nonce, which voids the older link.
- **Opt-outs take effect at once**: they are plain state changes, with no queue in
  between. An unsubscribe link ends the purpose it names (marketing). A STOP reply
  and provider error 21610 end every purpose of that channel, because the carrier
  then blocks every message from the sender, transactional ones too. An opt-out of a
  customer who never subscribed is still recorded: it is an objection, and it stops
  a later soft opt-in.
- **Double opt-in** is for email only: `subscribe(..., double_opt_in=True)` leaves the
  state pending with a fresh nonce (recorded in the event's evidence, the token itself
  is never stored), and `confirm` with a signed link for that nonce subscribes.
  Confirming again is a no-op success. A link whose nonce is no longer the current
  one (a later change of mind, or a newer request) is refused.
- **Sending** (`can_send`, re-checked at send time): marketing needs the state
  subscribed. Under the PECR soft opt-in (lawful basis soft_opt_in) it is valid only
  for email or SMS marketing to an existing customer, one who has bought
  (`Customer.last_order_at` set). The shop must also have offered a refusal when the
  details were collected and in every message. Transactional messages need no
  opt-in and are allowed unless that channel's transactional purpose is unsubscribed.
  Transactional and marketing consent are separate rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty import clock
from loyalty.consent import links
from loyalty.consent.models import (
    Channel,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    LawfulBasis,
    Purpose,
)
from loyalty.customers.models import Customer
from loyalty.errors import DomainError

SOFT_OPT_IN_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS})
DOUBLE_OPT_IN_CHANNELS = frozenset({Channel.EMAIL})
# Sources only the system writes (links, replies, providers), never a merchant's API call.
SYSTEM_SOURCES = frozenset(
    {
        ConsentSource.STOP_REPLY,
        ConsentSource.UNSUBSCRIBE_LINK,
        ConsentSource.PROVIDER_ERROR,
        ConsentSource.DOUBLE_OPT_IN_CONFIRMATION,
    }
)
_EVIDENCE_OF_CONSENT = ("form_id", "wording_version")
#: The longest a piece of evidence given with a change may be, and the field that names it.
_EVIDENCE_LIMITS = {"note": 1000, "form_id": 200, "wording_version": 100}
_EVIDENCE_FIELDS = {"note": "note", "form_id": "formId", "wording_version": "wordingVersion"}
_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class ConsentChange:
    """The state after a change, and the event it appended (None for a no-op)."""

    state: ConsentState
    event: ConsentEvent | None


@dataclass(frozen=True)
class ConsentView:
    """The consent for one channel and purpose, also for combinations without a row."""

    channel: Channel
    purpose: Purpose
    status: ConsentStatus
    lawful_basis: LawfulBasis | None
    updated_at: datetime | None


class SendDecision(NamedTuple):
    allowed: bool
    reason: str


# Reasons `can_send` gives.
ALLOWED_CONSENT = "consent"
ALLOWED_SOFT_OPT_IN = "soft_opt_in"
ALLOWED_TRANSACTIONAL = "transactional"
NO_CONSENT = "no_consent"
PENDING_CONFIRMATION = "pending_confirmation"
UNSUBSCRIBED = "unsubscribed"
SOFT_OPT_IN_NOT_APPLICABLE = "soft_opt_in_not_applicable"


async def get_state(customer: Customer, channel: Channel, purpose: Purpose) -> ConsentState | None:
    return await ConsentState.get_or_none(
        customer_id=customer.id, shop_id=customer.shop_id, channel=channel, purpose=purpose
    )


async def consents_of(customer: Customer) -> list[ConsentView]:
    """Every channel and purpose, in a fixed order; never subscribed where there is no row."""
    rows = await ConsentState.filter(customer_id=customer.id, shop_id=customer.shop_id)
    by_key = {(r.channel, r.purpose): r for r in rows}
    views = []
    for channel in Channel:
        for purpose in Purpose:
            row = by_key.get((channel, purpose))
            views.append(
                ConsentView(
                    channel=channel,
                    purpose=purpose,
                    status=row.status if row else ConsentStatus.NEVER_SUBSCRIBED,
                    lawful_basis=row.lawful_basis if row else None,
                    updated_at=row.updated_at if row else None,
                )
            )
    return views


def _check_basis(
    customer: Customer, channel: Channel, purpose: Purpose, basis: LawfulBasis
) -> None:
    if basis is not LawfulBasis.SOFT_OPT_IN:
        return
    if purpose is not Purpose.MARKETING or channel not in SOFT_OPT_IN_CHANNELS:
        raise DomainError(
            "SOFT_OPT_IN_NOT_ALLOWED",
            "the soft opt-in covers email and SMS marketing only",
            "lawfulBasis",
        )
    if customer.last_order_at is None:
        raise DomainError(
            "SOFT_OPT_IN_NOT_ALLOWED",
            "the soft opt-in needs an existing customer (one who has bought)",
            "lawfulBasis",
        )


async def _ensure_state(customer: Customer, channel: Channel, purpose: Purpose) -> ConsentState:
    for _ in range(_MAX_ATTEMPTS):
        state = await get_state(customer, channel, purpose)
        if state is not None:
            return state
        try:
            return await ConsentState.create(
                shop_id=customer.shop_id,
                customer_id=customer.id,
                channel=channel,
                purpose=purpose,
                status=ConsentStatus.NEVER_SUBSCRIBED,
                updated_at=clock.now(),
            )
        except IntegrityError:
            continue  # created concurrently: read it
    raise DomainError("CONFLICT", "consent is changing concurrently, try again")


async def change_consent(
    customer: Customer,
    channel: Channel,
    purpose: Purpose,
    to_status: ConsentStatus,
    *,
    source: ConsentSource,
    evidence: dict[str, Any] | None = None,
    lawful_basis: LawfulBasis | None = None,
    actor: str | None = None,
    _nonce: str | None = None,
    _require: Callable[[ConsentState], None] | None = None,
) -> ConsentChange:
    """Move one consent to `to_status` and append its event, in one transaction.

    Subscribing needs a lawful basis (consent when not given). Pending is for double
    opt-in only: use `subscribe`. Never subscribed is not a target: history is kept.
    """
    channel, purpose, to_status = Channel(channel), Purpose(purpose), ConsentStatus(to_status)
    source = ConsentSource(source)
    evidence = dict(evidence or {})
    if to_status is ConsentStatus.NEVER_SUBSCRIBED:
        raise DomainError("INVALID", "consent cannot go back to never subscribed", "status")
    if to_status is ConsentStatus.SUBSCRIBED:
        basis: LawfulBasis | None = LawfulBasis(lawful_basis or LawfulBasis.CONSENT)
        _check_basis(customer, channel, purpose, basis)
    else:
        basis = None
    if to_status is ConsentStatus.PENDING:
        if channel not in DOUBLE_OPT_IN_CHANNELS:
            raise DomainError("INVALID", "double opt-in is for email only", "channel")
        if not _nonce:
            raise DomainError("INVALID", "a pending consent needs a confirmation request")
    state = await _ensure_state(customer, channel, purpose)
    for _ in range(_MAX_ATTEMPTS):
        if _require is not None:
            _require(state)
        from_status = state.status
        same = from_status == to_status and state.lawful_basis == basis
        if same and to_status is not ConsentStatus.PENDING:
            reconfirmed = to_status is ConsentStatus.SUBSCRIBED and any(
                evidence.get(k) for k in _EVIDENCE_OF_CONSENT
            )
            if not reconfirmed:
                return ConsentChange(state, None)
            event = await _append(customer, state, from_status, basis, source, evidence, actor)
            return ConsentChange(state, event)
        if to_status is ConsentStatus.PENDING:
            nonce: str | None = _nonce
        elif to_status is ConsentStatus.SUBSCRIBED and source is (
            ConsentSource.DOUBLE_OPT_IN_CONFIRMATION
        ):
            nonce = state.confirmation_nonce  # so that confirming again is a no-op success
        else:
            nonce = None
        now = clock.now()
        async with in_transaction():
            moved = await ConsentState.filter(id=state.id, version=state.version).update(
                status=to_status,
                lawful_basis=basis,
                confirmation_nonce=nonce,
                version=state.version + 1,
                updated_at=now,
            )
            if moved:
                state.status, state.lawful_basis = to_status, basis
                state.confirmation_nonce, state.version = nonce, state.version + 1
                state.updated_at = now
                event = await _append(customer, state, from_status, basis, source, evidence, actor)
                return ConsentChange(state, event)
        await state.refresh_from_db()  # another writer won: decide again on its result
    raise DomainError("CONFLICT", "consent is changing concurrently, try again")


async def _append(
    customer: Customer,
    state: ConsentState,
    from_status: ConsentStatus,
    basis: LawfulBasis | None,
    source: ConsentSource,
    evidence: dict[str, Any],
    actor: str | None,
) -> ConsentEvent:
    return await ConsentEvent.create(
        shop_id=customer.shop_id,
        customer_id=customer.id,
        channel=state.channel,
        purpose=state.purpose,
        from_status=from_status,
        to_status=state.status,
        lawful_basis=basis,
        source=source,
        evidence=evidence,
        actor=actor,
        occurred_at=clock.now(),
    )


async def subscribe(
    customer: Customer,
    channel: Channel,
    purpose: Purpose = Purpose.MARKETING,
    *,
    source: ConsentSource,
    evidence: dict[str, Any] | None = None,
    lawful_basis: LawfulBasis = LawfulBasis.CONSENT,
    double_opt_in: bool = False,
    actor: str | None = None,
) -> ConsentChange:
    """Opt in; with `double_opt_in` (email only) the state is pending until confirmed.

    An already subscribed customer is not put back to pending. The pending state's nonce
    is what `links.confirmation_token` signs for the confirmation email.
    """
    channel = Channel(channel)
    if not double_opt_in:
        return await change_consent(
            customer,
            channel,
            purpose,
            ConsentStatus.SUBSCRIBED,
            source=source,
            evidence=evidence,
            lawful_basis=lawful_basis,
            actor=actor,
        )
    if channel not in DOUBLE_OPT_IN_CHANNELS:
        raise DomainError("INVALID", "double opt-in is for email only", "channel")
    current = await get_state(customer, channel, Purpose(purpose))
    if current is not None and current.status == ConsentStatus.SUBSCRIBED:
        return await change_consent(
            customer,
            channel,
            purpose,
            ConsentStatus.SUBSCRIBED,
            source=source,
            evidence=evidence,
            lawful_basis=current.lawful_basis,
            actor=actor,
        )
    now = clock.now()
    nonce = secrets.token_urlsafe(12)
    evidence = {
        **(evidence or {}),
        "confirmation": {
            "nonce": nonce,
            "requested_at": now.isoformat(),
            "expires_at": (now + links.CONFIRMATION_MAX_AGE).isoformat(),
        },
    }
    return await change_consent(
        customer,
        channel,
        purpose,
        ConsentStatus.PENDING,
        source=source,
        evidence=evidence,
        actor=actor,
        _nonce=nonce,
    )


def confirmation_token(secret_key: str, state: ConsentState) -> str:
    """The signed token for a pending state's confirmation link (7 days from now)."""
    if state.status != ConsentStatus.PENDING or not state.confirmation_nonce:
        raise DomainError("INVALID", "no confirmation is pending")
    return links.confirmation_token(
        secret_key,
        shop_id=state.shop_id,
        customer_id=state.customer_id,
        channel=state.channel,
        purpose=state.purpose,
        nonce=state.confirmation_nonce,
    )


async def _link_customer(claims: links.LinkClaims) -> Customer:
    customer = await Customer.get_or_none(id=claims.customer_id, shop_id=claims.shop_id)
    if customer is None:
        raise links.LinkError("INVALID", "This link is not valid.")
    return customer


async def confirm(
    token: str, *, secret_key: str, evidence: dict[str, Any] | None = None
) -> ConsentChange:
    """Confirm a double opt-in from its signed link; confirming twice is a no-op success."""
    claims = links.read_confirmation(secret_key, token)
    customer = await _link_customer(claims)

    def require(state: ConsentState) -> None:
        if state.confirmation_nonce != claims.nonce or state.status not in (
            ConsentStatus.PENDING,
            ConsentStatus.SUBSCRIBED,
        ):
            raise links.LinkError(
                "SUPERSEDED",
                "This confirmation link is no longer valid. Please sign up again.",
            )

    state = await get_state(customer, claims.channel, claims.purpose)
    if state is None:
        raise links.LinkError("INVALID", "This link is not valid.")
    require(state)
    if state.status == ConsentStatus.SUBSCRIBED:
        return ConsentChange(state, None)
    return await change_consent(
        customer,
        claims.channel,
        claims.purpose,
        ConsentStatus.SUBSCRIBED,
        source=ConsentSource.DOUBLE_OPT_IN_CONFIRMATION,
        evidence={**(evidence or {}), "confirmation_nonce": claims.nonce},
        lawful_basis=LawfulBasis.CONSENT,
        _require=require,
    )


async def unsubscribe(
    customer: Customer,
    channel: Channel,
    purposes: Iterable[Purpose] = (Purpose.MARKETING,),
    *,
    source: ConsentSource,
    evidence: dict[str, Any] | None = None,
    actor: str | None = None,
) -> list[ConsentChange]:
    """Opt out at once of each purpose given (marketing by default)."""
    return [
        await change_consent(
            customer,
            channel,
            purpose,
            ConsentStatus.UNSUBSCRIBED,
            source=source,
            evidence=evidence,
            actor=actor,
        )
        for purpose in purposes
    ]


def _evidence(**values: str | None) -> dict[str, Any]:
    """Evidence given with a change: trimmed, blanks left out, lengths checked."""
    evidence: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        value = value.strip()
        if key in _EVIDENCE_LIMITS and len(value) > _EVIDENCE_LIMITS[key]:
            raise DomainError(
                "INVALID",
                f"at most {_EVIDENCE_LIMITS[key]} characters",
                _EVIDENCE_FIELDS.get(key, key),
            )
        if value:
            evidence[key] = value
    return evidence


async def _set(
    customer: Customer,
    channel: Channel,
    purpose: Purpose,
    subscribed: bool,
    *,
    source: ConsentSource,
    evidence: dict[str, Any],
    actor: str,
    lawful_basis: LawfulBasis = LawfulBasis.CONSENT,
    double_opt_in: bool = False,
) -> ConsentChange:
    if subscribed:
        return await subscribe(
            customer,
            channel,
            purpose,
            source=source,
            evidence=evidence,
            lawful_basis=lawful_basis,
            double_opt_in=double_opt_in,
            actor=actor,
        )
    (change,) = await unsubscribe(
        customer, channel, (purpose,), source=source, evidence=evidence, actor=actor
    )
    return change


async def record_shopper_choice(
    customer: Customer,
    channel: Channel,
    purpose: Purpose,
    subscribed: bool,
    *,
    request: dict[str, Any],
    form_id: str | None = None,
    wording_version: str | None = None,
) -> ConsentChange:
    """The shopper's own opt-in or out on the storefront, with `request` evidence (ip,
    user agent). Email marketing opt-ins wait for the confirmation link (double opt-in)."""
    channel, purpose = Channel(channel), Purpose(purpose)
    evidence = {**request, **_evidence(form_id=form_id, wording_version=wording_version)}
    return await _set(
        customer,
        channel,
        purpose,
        subscribed,
        source=ConsentSource.STOREFRONT_FORM,
        evidence=evidence,
        actor="shopper",
        double_opt_in=channel is Channel.EMAIL and purpose is Purpose.MARKETING,
    )


async def record_merchant_change(
    customer: Customer,
    channel: Channel,
    purpose: Purpose,
    subscribed: bool,
    *,
    source: ConsentSource,
    note: str,
    actor: str,
    lawful_basis: LawfulBasis | None = None,
    form_id: str | None = None,
    wording_version: str | None = None,
    double_opt_in: bool = False,
) -> ConsentChange:
    """A consent or opt-out the merchant collected elsewhere: never from a source only the
    system writes, always with a note of the evidence, and with a lawful basis to
    subscribe."""
    source = ConsentSource(source)
    if source in SYSTEM_SOURCES:
        raise DomainError("INVALID", f"{source.value} is recorded by the system", "source")
    evidence = _evidence(note=note, form_id=form_id, wording_version=wording_version)
    if "note" not in evidence:
        raise DomainError("INVALID", "a note with the evidence is required", "note")
    if subscribed and lawful_basis is None:
        raise DomainError("INVALID", "a lawful basis is required", "lawfulBasis")
    return await _set(
        customer,
        Channel(channel),
        Purpose(purpose),
        subscribed,
        source=source,
        evidence=evidence,
        actor=actor,
        lawful_basis=LawfulBasis(lawful_basis or LawfulBasis.CONSENT),
        double_opt_in=double_opt_in,
    )


async def unsubscribe_by_token(
    token: str, *, secret_key: str, evidence: dict[str, Any] | None = None
) -> ConsentChange:
    """The unsubscribe link (one-click or the page's button): the purpose it names ends."""
    claims = links.read_unsubscribe(secret_key, token)
    customer = await _link_customer(claims)
    (change,) = await unsubscribe(
        customer,
        claims.channel,
        (claims.purpose,),
        source=ConsentSource.UNSUBSCRIBE_LINK,
        evidence=evidence,
    )
    return change


async def record_stop_reply(
    customer: Customer,
    channel: Channel,
    *,
    sending_number: str,
    message: str,
    evidence: dict[str, Any] | None = None,
) -> list[ConsentChange]:
    """An inbound STOP (SMS or WhatsApp): every purpose of the channel ends at once."""
    return await unsubscribe(
        customer,
        channel,
        tuple(Purpose),
        source=ConsentSource.STOP_REPLY,
        evidence={**(evidence or {}), "sending_number": sending_number, "message": message},
    )


async def record_provider_opt_out(
    customer: Customer,
    channel: Channel,
    *,
    provider_error_code: str,
    evidence: dict[str, Any] | None = None,
) -> list[ConsentChange]:
    """A provider refusal that means the recipient opted out (Twilio 21610)."""
    return await unsubscribe(
        customer,
        channel,
        tuple(Purpose),
        source=ConsentSource.PROVIDER_ERROR,
        evidence={**(evidence or {}), "provider_error_code": provider_error_code},
    )


async def can_send(customer: Customer, channel: Channel, purpose: Purpose) -> SendDecision:
    """Whether a message may go now; read fresh from the database at send time."""
    channel, purpose = Channel(channel), Purpose(purpose)
    state = await get_state(customer, channel, purpose)
    status = state.status if state else ConsentStatus.NEVER_SUBSCRIBED
    if purpose is Purpose.TRANSACTIONAL:
        if status == ConsentStatus.UNSUBSCRIBED:
            return SendDecision(False, UNSUBSCRIBED)
        return SendDecision(True, ALLOWED_TRANSACTIONAL)
    if status == ConsentStatus.UNSUBSCRIBED:
        return SendDecision(False, UNSUBSCRIBED)
    if status == ConsentStatus.PENDING:
        return SendDecision(False, PENDING_CONFIRMATION)
    if status != ConsentStatus.SUBSCRIBED or state is None:
        return SendDecision(False, NO_CONSENT)
    if state.lawful_basis == LawfulBasis.SOFT_OPT_IN:
        if channel not in SOFT_OPT_IN_CHANNELS:
            return SendDecision(False, SOFT_OPT_IN_NOT_APPLICABLE)
        last_order_at = (
            await Customer.filter(id=customer.id).values_list("last_order_at", flat=True)
        )[0]
        if last_order_at is None:
            return SendDecision(False, SOFT_OPT_IN_NOT_APPLICABLE)
        return SendDecision(True, ALLOWED_SOFT_OPT_IN)
    return SendDecision(True, ALLOWED_CONSENT)
