"""Consent state changes, their append-only history, and the sending rules."""

from __future__ import annotations

import asyncio

import pytest

from loyalty.consent import service
from loyalty.consent.models import (
    Channel,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    LawfulBasis,
    Purpose,
)
from loyalty.errors import DomainError
from tests.consent.conftest import SECRET, T0, make_customer

EMAIL, SMS, WHATSAPP = Channel.EMAIL, Channel.SMS, Channel.WHATSAPP
MARKETING, TRANSACTIONAL = Purpose.MARKETING, Purpose.TRANSACTIONAL
FORM = {"form_id": "footer-signup", "wording_version": "v3"}


async def events_of(customer) -> list[ConsentEvent]:
    return await ConsentEvent.filter(customer_id=customer.id).order_by("id")


async def test_each_change_writes_state_and_one_event(shop_a, now):
    customer = await make_customer(shop_a)
    change = await service.subscribe(
        customer, SMS, MARKETING, source=ConsentSource.CHECKOUT, evidence=FORM, actor="test"
    )
    assert change.state.status == ConsentStatus.SUBSCRIBED
    assert change.state.lawful_basis == LawfulBasis.CONSENT
    assert change.state.updated_at == T0
    await service.unsubscribe(
        customer, SMS, source=ConsentSource.STOP_REPLY, evidence={"message": "STOP"}
    )

    state = await ConsentState.get(customer_id=customer.id, channel=SMS, purpose=MARKETING)
    assert (state.status, state.lawful_basis) == (ConsentStatus.UNSUBSCRIBED, None)
    history = await events_of(customer)
    assert [(e.from_status, e.to_status, e.source) for e in history] == [
        (ConsentStatus.NEVER_SUBSCRIBED, ConsentStatus.SUBSCRIBED, ConsentSource.CHECKOUT),
        (ConsentStatus.SUBSCRIBED, ConsentStatus.UNSUBSCRIBED, ConsentSource.STOP_REPLY),
    ]
    assert history[0].evidence == FORM
    assert history[0].lawful_basis == LawfulBasis.CONSENT and history[0].actor == "test"
    assert history[0].occurred_at == T0 and history[0].shop_id == shop_a.shop.id
    assert history[1].evidence == {"message": "STOP"}


async def test_no_op_writes_no_event_but_a_reconfirmation_with_evidence_does(shop_a, now):
    customer = await make_customer(shop_a)
    await service.subscribe(customer, SMS, source=ConsentSource.API, evidence={"note": "x"})
    again = await service.subscribe(customer, SMS, source=ConsentSource.API)
    assert again.event is None
    await service.unsubscribe(customer, SMS, source=ConsentSource.API)
    repeat = await service.unsubscribe(customer, SMS, source=ConsentSource.API)
    assert repeat[0].event is None
    assert len(await events_of(customer)) == 2

    await service.subscribe(customer, SMS, source=ConsentSource.STOREFRONT_FORM, evidence=FORM)
    reconfirmed = await service.subscribe(
        customer, SMS, source=ConsentSource.STOREFRONT_FORM, evidence={**FORM, "ip": "1.2.3.4"}
    )
    assert reconfirmed.event is not None
    assert reconfirmed.event.from_status == reconfirmed.event.to_status == ConsentStatus.SUBSCRIBED
    assert len(await events_of(customer)) == 4


async def test_events_are_append_only(shop_a, now):
    customer = await make_customer(shop_a)
    change = await service.subscribe(customer, SMS, source=ConsentSource.API)
    event = change.event
    assert event is not None
    event.to_status = ConsentStatus.UNSUBSCRIBED
    with pytest.raises(PermissionError):
        await event.save()
    with pytest.raises(PermissionError):
        await event.delete()
    stored = await ConsentEvent.get(id=event.id)
    assert stored.to_status == ConsentStatus.SUBSCRIBED
    assert await ConsentEvent.filter(customer_id=customer.id).count() == 1


async def test_never_subscribed_is_not_a_target_and_pending_is_email_only(shop_a, now):
    customer = await make_customer(shop_a)
    with pytest.raises(DomainError):
        await service.change_consent(
            customer, SMS, MARKETING, ConsentStatus.NEVER_SUBSCRIBED, source=ConsentSource.API
        )
    with pytest.raises(DomainError):
        await service.subscribe(customer, SMS, source=ConsentSource.API, double_opt_in=True)
    assert await ConsentEvent.all().count() == 0


async def test_soft_opt_in_only_for_existing_customers_on_email_or_sms(shop_a, now):
    prospect = await make_customer(shop_a, "prospect")
    buyer = await make_customer(shop_a, "buyer", bought=True)
    soft = LawfulBasis.SOFT_OPT_IN
    with pytest.raises(DomainError) as refused:
        await service.subscribe(prospect, EMAIL, source=ConsentSource.CHECKOUT, lawful_basis=soft)
    assert refused.value.code == "SOFT_OPT_IN_NOT_ALLOWED"
    with pytest.raises(DomainError):
        await service.subscribe(buyer, WHATSAPP, source=ConsentSource.CHECKOUT, lawful_basis=soft)
    with pytest.raises(DomainError):
        await service.subscribe(
            buyer, SMS, TRANSACTIONAL, source=ConsentSource.CHECKOUT, lawful_basis=soft
        )

    await service.subscribe(buyer, EMAIL, source=ConsentSource.CHECKOUT, lawful_basis=soft)
    assert await service.can_send(buyer, EMAIL, MARKETING) == (True, service.ALLOWED_SOFT_OPT_IN)


async def test_can_send_rules(shop_a, now):
    customer = await make_customer(shop_a)
    # Nothing recorded: no marketing, transactional allowed.
    assert await service.can_send(customer, EMAIL, MARKETING) == (False, service.NO_CONSENT)
    assert await service.can_send(customer, SMS, TRANSACTIONAL) == (
        True,
        service.ALLOWED_TRANSACTIONAL,
    )
    # Pending double opt-in: still no marketing.
    await service.subscribe(customer, EMAIL, source=ConsentSource.API, double_opt_in=True)
    assert await service.can_send(customer, EMAIL, MARKETING) == (
        False,
        service.PENDING_CONFIRMATION,
    )
    # Subscribed with consent.
    await service.subscribe(customer, SMS, source=ConsentSource.CHECKOUT)
    assert await service.can_send(customer, SMS, MARKETING) == (True, service.ALLOWED_CONSENT)
    # Marketing and transactional SMS are separate: ending one leaves the other.
    await service.unsubscribe(customer, SMS, (TRANSACTIONAL,), source=ConsentSource.API)
    assert await service.can_send(customer, SMS, TRANSACTIONAL) == (False, service.UNSUBSCRIBED)
    assert await service.can_send(customer, SMS, MARKETING) == (True, service.ALLOWED_CONSENT)
    await service.subscribe(customer, SMS, TRANSACTIONAL, source=ConsentSource.API)
    await service.unsubscribe(customer, SMS, source=ConsentSource.API)
    assert await service.can_send(customer, SMS, MARKETING) == (False, service.UNSUBSCRIBED)
    assert await service.can_send(customer, SMS, TRANSACTIONAL) == (
        True,
        service.ALLOWED_TRANSACTIONAL,
    )
    # Other channels are untouched.
    assert await service.can_send(customer, WHATSAPP, MARKETING) == (False, service.NO_CONSENT)


async def test_soft_opt_in_is_rechecked_at_send_time(shop_a, now):
    from loyalty.customers.models import Customer

    buyer = await make_customer(shop_a, "buyer", bought=True)
    await service.subscribe(
        buyer, SMS, source=ConsentSource.CHECKOUT, lawful_basis=LawfulBasis.SOFT_OPT_IN
    )
    assert (await service.can_send(buyer, SMS, MARKETING)).allowed
    await Customer.filter(id=buyer.id).update(last_order_at=None)  # e.g. an erased order
    decision = await service.can_send(buyer, SMS, MARKETING)
    assert decision == (False, service.SOFT_OPT_IN_NOT_APPLICABLE)


async def test_stop_reply_and_provider_error_end_every_purpose_at_once(shop_a, now):
    customer = await make_customer(shop_a)
    other = await make_customer(shop_a, "c2")
    for who in (customer, other):
        await service.subscribe(who, SMS, MARKETING, source=ConsentSource.CHECKOUT)
        await service.subscribe(who, SMS, TRANSACTIONAL, source=ConsentSource.CHECKOUT)

    await service.record_stop_reply(customer, SMS, sending_number="+447700900001", message="Stop")
    await service.record_provider_opt_out(other, SMS, provider_error_code="21610")

    for who in (customer, other):
        for purpose in Purpose:
            assert (await service.can_send(who, SMS, purpose)).reason == service.UNSUBSCRIBED
    stop = await ConsentEvent.filter(customer_id=customer.id, source="stop_reply").first()
    assert stop is not None
    assert stop.evidence == {"sending_number": "+447700900001", "message": "Stop"}
    provider = await ConsentEvent.filter(customer_id=other.id, source="provider_error").first()
    assert provider is not None and provider.evidence == {"provider_error_code": "21610"}


async def test_opt_out_without_prior_consent_is_recorded(shop_a, now):
    customer = await make_customer(shop_a)
    (change,) = await service.unsubscribe(customer, EMAIL, source=ConsentSource.IMPORT)
    assert change.event is not None
    assert change.event.from_status == ConsentStatus.NEVER_SUBSCRIBED
    assert change.state.status == ConsentStatus.UNSUBSCRIBED


async def test_double_opt_in_confirm_is_idempotent_and_superseded_links_fail(shop_a, now):
    customer = await make_customer(shop_a)
    first = await service.subscribe(
        customer, EMAIL, source=ConsentSource.STOREFRONT_FORM, double_opt_in=True
    )
    assert first.state.status == ConsentStatus.PENDING
    confirmation = first.event.evidence["confirmation"]
    assert confirmation["nonce"] == first.state.confirmation_nonce
    old_token = service.confirmation_token(SECRET, first.state)

    # Asking again makes a new request: the older link is void.
    second = await service.subscribe(
        customer, EMAIL, source=ConsentSource.STOREFRONT_FORM, double_opt_in=True
    )
    token = service.confirmation_token(SECRET, second.state)
    with pytest.raises(DomainError) as superseded:
        await service.confirm(old_token, secret_key=SECRET)
    assert superseded.value.code == "SUPERSEDED"

    done = await service.confirm(token, secret_key=SECRET, evidence={"ip": "1.1.1.1"})
    assert done.state.status == ConsentStatus.SUBSCRIBED
    assert done.event.source == ConsentSource.DOUBLE_OPT_IN_CONFIRMATION
    again = await service.confirm(token, secret_key=SECRET)
    assert again.event is None and again.state.status == ConsentStatus.SUBSCRIBED

    # Subscribing while subscribed does not go back to pending.
    kept = await service.subscribe(
        customer, EMAIL, source=ConsentSource.STOREFRONT_FORM, double_opt_in=True
    )
    assert kept.state.status == ConsentStatus.SUBSCRIBED

    # After an opt-out the old confirmation link cannot re-subscribe.
    await service.unsubscribe(customer, EMAIL, source=ConsentSource.UNSUBSCRIBE_LINK)
    with pytest.raises(DomainError):
        await service.confirm(token, secret_key=SECRET)
    assert (await service.can_send(customer, EMAIL, MARKETING)).reason == service.UNSUBSCRIBED


@pytest.mark.both_dbs
async def test_concurrent_changes_each_record_their_true_from_status(shop_a, now):
    customer = await make_customer(shop_a)
    await service.subscribe(customer, SMS, source=ConsentSource.API)
    await asyncio.gather(
        *(
            service.unsubscribe(customer, SMS, source=ConsentSource.API)
            if i % 2
            else service.subscribe(customer, SMS, source=ConsentSource.API)
            for i in range(8)
        )
    )
    history = await events_of(customer)
    for before, after in zip(history, history[1:], strict=False):
        assert after.from_status == before.to_status
    state = await ConsentState.get(customer_id=customer.id, channel=SMS, purpose=MARKETING)
    assert state.status == history[-1].to_status
