"""Message templates over GraphQL: list, save (validated, sandboxed) and preview.

`MessagingQuery` and `MessagingMutation` are mixed into `Query` and `Mutation`. Rules
live in `loyalty.messaging` (templates, service, confirmations); these resolvers
translate.

SMS lengths: a saved SMS template shows the length of its body rendered with sample
personalisation (it depends on the customer); `previewMessage` gives the exact text
and length for one customer.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.types import Info

from loyalty.consent import models as c
from loyalty.customers.service import get_customer
from loyalty.errors import DomainError
from loyalty.graphql.consent import ConsentChannel, ConsentPurpose
from loyalty.graphql.errors import decode_id, user_errors
from loyalty.graphql.permissions import MerchantRead, MerchantWrite, PublicError
from loyalty.graphql.types import UserError
from loyalty.messaging import confirmations, service
from loyalty.messaging import models as mm
from loyalty.messaging.templates import SmsPreview, preview_sms, sample_sms


@strawberry.type(
    description="How an SMS is sent and billed: GSM-7 fits 160 characters in one segment "
    "(153 per part once split), UCS-2 (any character outside GSM-7, an emoji for one) 70 "
    "(67 per part)."
)
class SmsLength:
    encoding: str = strawberry.field(description="GSM-7 or UCS-2")
    characters: int
    units: int = strawberry.field(
        description="Septets for GSM-7 (extension characters such as € count two), "
        "UTF-16 code units for UCS-2"
    )
    segments: int
    per_segment: int = strawberry.field(description="Units per segment at this length")

    @classmethod
    def of(cls, length: SmsPreview) -> SmsLength:
        return cls(
            encoding=length.encoding,
            characters=length.characters,
            units=length.units,
            segments=length.segments,
            per_segment=length.per_segment,
        )


@strawberry.type(description="Merchant-editable Jinja2, rendered in a sandbox.")
class MessageTemplate(relay.Node):
    id: relay.NodeID[int]
    key: str
    channel: ConsentChannel
    purpose: ConsentPurpose
    subject: str | None
    body: str
    html: str | None
    whatsapp_content_sid: str | None
    whatsapp_variables: list[str]
    updated_at: datetime
    sms_length: SmsLength | None = strawberry.field(
        description="SMS only: the body rendered with sample personalisation (the real "
        "length depends on the customer, see previewMessage)."
    )

    @classmethod
    def of(cls, row: mm.MessageTemplate, shop_name: str) -> MessageTemplate:
        sms = None
        if row.channel == c.Channel.SMS:
            sms = SmsLength.of(sample_sms(row.body, shop_name))
        return cls(
            id=row.id,
            key=row.key,
            channel=row.channel,
            purpose=row.purpose,
            subject=row.subject,
            body=row.body,
            html=row.html,
            whatsapp_content_sid=row.whatsapp_content_sid,
            whatsapp_variables=list(row.whatsapp_variables or []),
            updated_at=row.updated_at,
            sms_length=sms,
        )


@strawberry.type(description="A template rendered for one customer, as it would be queued now.")
class MessagePreview:
    subject: str | None
    body: str
    html: str | None
    sms_length: SmsLength | None = strawberry.field(description="SMS only")


@strawberry.input
class SaveMessageTemplateInput:
    key: str = strawberry.field(
        description="Names the template per channel; saving the same key and channel "
        "replaces it. `consent_confirmation` (email) is the double opt-in email and must "
        "place {{ confirmation_url }}."
    )
    channel: ConsentChannel
    purpose: ConsentPurpose = c.Purpose.MARKETING
    subject: str | None = strawberry.field(default=None, description="Email only, required")
    body: str = strawberry.field(
        description="Jinja2: first_name, last_name, shop_name, points_balance, tier, "
        "points_to_next_reward, next_reward, voucher_code, unsubscribe_url"
    )
    html: str | None = strawberry.field(default=None, description="Email only, autoescaped")
    whatsapp_content_sid: str | None = strawberry.field(
        default=None, description="WhatsApp: the approved content template (HX...)"
    )
    whatsapp_variables: list[str] | None = strawberry.field(
        default=None, description="WhatsApp: personalisation names for variables 1, 2..."
    )


@strawberry.type
class MessageTemplatePayload:
    template: MessageTemplate | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MessagingQuery:
    @strawberry.field(
        permission_classes=[MerchantRead],
        description="The shop's message templates, by key then channel.",
    )
    async def message_templates(
        self, info: Info, channel: ConsentChannel | None = None
    ) -> list[MessageTemplate]:
        shop = info.context.shop
        rows = mm.MessageTemplate.filter(shop_id=shop.id)
        if channel is not None:
            rows = rows.filter(channel=c.Channel(channel))
        return [MessageTemplate.of(r, shop.name) for r in await rows.order_by("key", "channel")]

    @strawberry.field(
        permission_classes=[MerchantRead],
        description="A template rendered for one customer of the shop, with their "
        "personalisation (and the SMS length), without sending anything.",
    )
    async def preview_message(
        self,
        info: Info,
        template_key: str,
        channel: ConsentChannel,
        customer_id: relay.GlobalID,
    ) -> MessagePreview:
        ctx = info.context
        kind = c.Channel(channel)
        try:
            customer = await get_customer(
                ctx.shop_id, decode_id(customer_id, "Customer", "customerId")
            )
            message = await service.preview(
                customer,
                template_key,
                kind,
                confirmations.link_settings(ctx.settings.secret_key),
            )
        except DomainError as exc:
            raise PublicError(exc.message, extensions={"code": exc.code}) from exc
        return MessagePreview(
            subject=message.subject,
            body=message.body,
            html=message.html,
            sms_length=SmsLength.of(preview_sms(message.body)) if kind is c.Channel.SMS else None,
        )


@strawberry.type
class MessagingMutation:
    @strawberry.mutation(
        permission_classes=[MerchantWrite],
        description="Create or replace a template (key and channel). Syntax errors, unknown "
        "variables and unsafe attribute access are refused, naming the line.",
    )
    async def save_message_template(
        self, info: Info, input: SaveMessageTemplateInput
    ) -> MessageTemplatePayload:
        shop = info.context.shop
        try:
            row = await service.save_template(
                shop.id,
                input.key,
                c.Channel(input.channel),
                body=input.body,
                purpose=c.Purpose(input.purpose),
                subject=input.subject,
                html=input.html,
                whatsapp_content_sid=input.whatsapp_content_sid,
                whatsapp_variables=input.whatsapp_variables,
            )
        except DomainError as exc:
            return MessageTemplatePayload(user_errors=user_errors(exc))
        return MessageTemplatePayload(template=MessageTemplate.of(row, shop.name))
