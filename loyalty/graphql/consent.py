"""Consent over GraphQL: the shopper's own consent, and the merchant's view and changes.

`ConsentQuery` and `ConsentMutation` are mixed into `Query` and `Mutation`. Rules live in
`loyalty.consent.service`; these resolvers only translate and gather the request's
evidence. When a change calls for a confirmation email
(`loyalty.messaging.confirmations`), it is handed to a worker once it is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from loyalty.consent import models as c
from loyalty.consent import service
from loyalty.customers.models import Customer
from loyalty.customers.service import get_customer
from loyalty.errors import DomainError, NotFound
from loyalty.graphql.errors import decode_id, user_errors
from loyalty.graphql.pagination import paginate
from loyalty.graphql.permissions import MerchantRead, MerchantWrite, Shopper
from loyalty.graphql.types import UserError
from loyalty.messaging import confirmations
from loyalty.messaging.models import MessageStatus

ConsentChannel = strawberry.enum(c.Channel, name="ConsentChannel")
ConsentPurpose = strawberry.enum(c.Purpose, name="ConsentPurpose")
ConsentStatus = strawberry.enum(c.ConsentStatus, name="ConsentStatus")
LawfulBasis = strawberry.enum(c.LawfulBasis, name="LawfulBasis")
ConsentSource = strawberry.enum(c.ConsentSource, name="ConsentSource")


@strawberry.type(description="Consent for one channel and purpose.")
class Consent:
    channel: ConsentChannel
    purpose: ConsentPurpose
    status: ConsentStatus
    lawful_basis: LawfulBasis | None = strawberry.field(
        description="Set while subscribed: consent, or the PECR soft opt-in."
    )
    updated_at: datetime | None = strawberry.field(description="Null when never recorded.")

    @classmethod
    def of(cls, view: service.ConsentView | c.ConsentState) -> Consent:
        return cls(
            channel=view.channel,
            purpose=view.purpose,
            status=view.status,
            lawful_basis=view.lawful_basis,
            updated_at=view.updated_at,
        )


@strawberry.type(description="One change of consent, with its source and evidence. Never edited.")
class ConsentEvent(relay.Node):
    id: relay.NodeID[int]
    channel: ConsentChannel
    purpose: ConsentPurpose
    from_status: ConsentStatus
    to_status: ConsentStatus
    lawful_basis: LawfulBasis | None
    source: ConsentSource
    evidence: JSON = strawberry.field(
        description="form_id, wording_version, ip, user_agent, sending_number, note..."
    )
    actor: str | None
    occurred_at: datetime

    @classmethod
    def of(cls, row: c.ConsentEvent) -> ConsentEvent:
        return cls(
            id=row.id,
            channel=row.channel,
            purpose=row.purpose,
            from_status=row.from_status,
            to_status=row.to_status,
            lawful_basis=row.lawful_basis,
            source=row.source,
            evidence=row.evidence,
            actor=row.actor,
            occurred_at=row.occurred_at,
        )


@strawberry.type(description="A customer's consent per channel and purpose, and its history.")
class CustomerConsent:
    customer_id: relay.GlobalID
    consents: list[Consent]
    row_id: strawberry.Private[int]
    shop_id: strawberry.Private[int]

    @strawberry.field(description="Every change, newest first.")
    async def history(
        self, first: int | None = None, after: str | None = None
    ) -> relay.Connection[ConsentEvent]:
        return await paginate(
            c.ConsentEvent.filter(shop_id=self.shop_id, customer_id=self.row_id),
            first=first,
            after=after,
            to_node=ConsentEvent.of,
            newest_first=True,
        )

    @classmethod
    async def of(cls, customer: Customer) -> CustomerConsent:
        views = await service.consents_of(customer)
        return cls(
            customer_id=relay.GlobalID("Customer", str(customer.id)),
            consents=[Consent.of(v) for v in views],
            row_id=customer.id,
            shop_id=customer.shop_id,
        )


@strawberry.input
class UpdateConsentInput:
    channel: ConsentChannel
    purpose: ConsentPurpose = c.Purpose.MARKETING
    subscribed: bool = strawberry.field(
        description="True to opt in (email marketing then waits for the confirmation link)"
    )
    form_id: str | None = strawberry.field(default=None, description="The form that asked")
    wording_version: str | None = strawberry.field(
        default=None, description="The version of the consent wording shown"
    )


@strawberry.input
class UpdateCustomerConsentInput:
    customer_id: relay.GlobalID
    channel: ConsentChannel
    purpose: ConsentPurpose = c.Purpose.MARKETING
    subscribed: bool
    lawful_basis: LawfulBasis | None = strawberry.field(
        default=None, description="Required to subscribe: consent, or soft opt-in (customers)"
    )
    note: str = strawberry.field(description="Evidence: how and when this was given or withdrawn")
    source: ConsentSource = strawberry.field(
        default=c.ConsentSource.API,
        description="api, merchant, checkout, import or storefront_form",
    )
    form_id: str | None = None
    wording_version: str | None = None
    double_opt_in: bool = strawberry.field(
        default=False, description="Email only: pending until the customer confirms"
    )


@strawberry.type
class ConsentPayload:
    consent: Consent | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _request_evidence(info: Info) -> dict[str, Any]:
    request = info.context.request
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }


def _send_message(message_id: int) -> None:
    """After commit: a worker sends the message (claimed, so a repeat never sends twice)."""
    from loyalty.workers.messages import send_message

    send_message.send(message_id)


async def _payload(info: Info, customer: Customer, change: service.ConsentChange) -> ConsentPayload:
    message = await confirmations.email_for_change(
        customer,
        change,
        link_settings=confirmations.link_settings(info.context.settings.secret_key),
    )
    if message is not None and message.status == MessageStatus.QUEUED:
        _send_message(message.id)
    return ConsentPayload(consent=Consent.of(change.state))


@strawberry.type
class ConsentQuery:
    @strawberry.field(
        permission_classes=[Shopper],
        description="The shopper's own consent per channel and purpose (empty until synced).",
    )
    async def my_consents(self, info: Info) -> list[Consent]:
        customer = await info.context.shopper()
        if customer is None:
            return []
        return [Consent.of(v) for v in await service.consents_of(customer)]

    @strawberry.field(permission_classes=[MerchantRead])
    async def customer_consent(
        self, info: Info, customer_id: relay.GlobalID
    ) -> CustomerConsent | None:
        if customer_id.type_name != "Customer" or not customer_id.node_id.isdigit():
            return None
        row = await Customer.get_or_none(shop_id=info.context.shop_id, id=int(customer_id.node_id))
        return await CustomerConsent.of(row) if row else None


@strawberry.type
class ConsentMutation:
    @strawberry.mutation(
        permission_classes=[Shopper],
        description="Opt in or out. Email marketing opt-ins stay PENDING until the emailed "
        "confirmation link is followed (double opt-in).",
    )
    async def update_consent(self, info: Info, input: UpdateConsentInput) -> ConsentPayload:
        try:
            customer = await info.context.shopper()
            if customer is None:
                raise NotFound("customer")
            change = await service.record_shopper_choice(
                customer,
                c.Channel(input.channel),
                c.Purpose(input.purpose),
                input.subscribed,
                request=_request_evidence(info),
                form_id=input.form_id,
                wording_version=input.wording_version,
            )
            return await _payload(info, customer, change)
        except DomainError as exc:
            return ConsentPayload(user_errors=user_errors(exc))

    @strawberry.mutation(
        permission_classes=[MerchantWrite],
        description="Record a customer's consent or opt-out collected elsewhere, with evidence.",
    )
    async def update_customer_consent(
        self, info: Info, input: UpdateCustomerConsentInput
    ) -> ConsentPayload:
        ctx = info.context
        try:
            customer = await get_customer(
                ctx.shop_id, decode_id(input.customer_id, "Customer", "customerId")
            )
            change = await service.record_merchant_change(
                customer,
                c.Channel(input.channel),
                c.Purpose(input.purpose),
                input.subscribed,
                source=c.ConsentSource(input.source),
                note=input.note,
                actor=ctx.actor,
                lawful_basis=(
                    c.LawfulBasis(input.lawful_basis) if input.lawful_basis is not None else None
                ),
                form_id=input.form_id,
                wording_version=input.wording_version,
                double_opt_in=input.double_opt_in,
            )
            return await _payload(info, customer, change)
        except DomainError as exc:
            return ConsentPayload(user_errors=user_errors(exc))
