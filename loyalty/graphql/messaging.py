"""Message templates over GraphQL: list, save (validated, sandboxed) and preview.

`MessagingQuery` and `MessagingMutation` are mixed into `Query` and `Mutation`. Rules
live in `loyalty.messaging` (templates, service, confirmations); these resolvers
translate, and check one thing more at save time: a template that reaches for Python
internals (`''.__class__`, `|attr('__globals__')`...) is refused with its line, rather
than saved and refused by the sandbox at every send.

SMS lengths: a saved SMS template shows the length of its body rendered with sample
personalisation (it depends on the customer); `previewMessage` gives the exact text
and length for one customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment
from strawberry import relay
from strawberry.types import Info

from loyalty.consent import models as c
from loyalty.customers.service import get_customer
from loyalty.errors import DomainError, NotFound
from loyalty.graphql.consent import ConsentChannel, ConsentPurpose
from loyalty.graphql.errors import decode_id, user_errors
from loyalty.graphql.permissions import MerchantRead, MerchantWrite, PublicError
from loyalty.graphql.types import UserError
from loyalty.messaging import confirmations, service
from loyalty.messaging import models as mm
from loyalty.messaging.templates import TemplateError, personalisation, preview_sms, render

_LIMITS = {"key": 64, "subject": 255, "whatsapp_content_sid": 64}
_FIELD_NAMES = {"key": "key", "subject": "subject", "whatsapp_content_sid": "whatsappContentSid"}
_PARSER = SandboxedEnvironment()


def _sample(shop_name: str) -> dict[str, Any]:
    """Stand-in personalisation for measuring and trying out a template."""
    return {
        "first_name": "Alex",
        "last_name": "Taylor",
        "shop_name": shop_name,
        "points_balance": 1250,
        "tier": "Gold",
        "points_to_next_reward": 250,
        "next_reward": "£5 off",
        "voucher_code": "SAVE-AB12CD",
        "unsubscribe_url": "https://example.com/unsubscribe?token=sample",
        "confirmation_url": "https://example.com/consent/confirm?token=sample",
    }


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
    def of(cls, text: str) -> SmsLength:
        length = preview_sms(text)
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
            try:
                text = render(row.body, _sample(shop_name))
            except TemplateError:
                text = row.body  # uses a flow's own fields: measure the source
            sms = SmsLength.of(text)
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


def _unsafe_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    if isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
        arg = node.args[0]
        return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None
    return None


def _refuse_unsafe(source: str, field: str) -> None:
    """Attribute or item names starting with an underscore never render: say so now."""
    try:
        ast = _PARSER.parse(source)
    except TemplateSyntaxError:
        return  # validate_template reports it
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name = _unsafe_name(node)
        if name is not None and name.startswith("_"):
            raise TemplateError(
                "TEMPLATE_UNSAFE",
                f"{field}, line {node.lineno}: access to {name!r} is not allowed",
                field,
                line=node.lineno,
            )


def _try_render(source: str, field: str, values: dict[str, Any], html: bool = False) -> None:
    """Render with sample values: what the sandbox refuses is refused now too."""
    try:
        render(source, values, html=html)
    except TemplateError as exc:
        if exc.code == "TEMPLATE_UNSAFE":
            raise TemplateError(exc.code, f"{field}: {exc.message}", field) from exc


def _check(input: SaveMessageTemplateInput, shop_name: str) -> None:
    for name, limit in _LIMITS.items():
        value = getattr(input, name)
        if value is not None and len(value) > limit:
            raise DomainError("INVALID", f"at most {limit} characters", _FIELD_NAMES[name])
    values = _sample(shop_name)
    parts = (("subject", input.subject, False), ("body", input.body, False))
    for field, source, html in (*parts, ("html", input.html, True)):
        if source:
            _refuse_unsafe(source, field)
            _try_render(source, field, values, html)


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
            template = await mm.MessageTemplate.get_or_none(
                shop_id=ctx.shop_id, key=template_key, channel=kind
            )
            if template is None:
                raise NotFound(f"{kind.value} template {template_key!r}", "templateKey")
            links = confirmations.link_settings(ctx.settings.secret_key)
            values = await personalisation(customer)
            url = None
            if kind is c.Channel.EMAIL and template.purpose == c.Purpose.MARKETING:
                url = service.unsubscribe_url(customer, links)
            values["unsubscribe_url"] = url
            values.update(confirmations.preview_context(template_key, kind, links))
            subject = render(template.subject, values) if template.subject else None
            body = render(template.body, values) if template.body else ""
            html = render(template.html, values, html=True) if template.html else None
        except DomainError as exc:
            raise PublicError(exc.message, extensions={"code": exc.code}) from exc
        if url is not None:
            body = service._with_text_footer(body, url)
            html = service._with_html_footer(html, url) if html is not None else None
        return MessagePreview(
            subject=subject,
            body=body,
            html=html,
            sms_length=SmsLength.of(body) if kind is c.Channel.SMS else None,
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
            channel = c.Channel(input.channel)
            _check(input, shop.name)
            confirmations.check_template(input.key, channel, input.body)
            row = await service.save_template(
                shop.id,
                input.key,
                channel,
                body=input.body,
                purpose=c.Purpose(input.purpose),
                subject=input.subject,
                html=input.html,
                whatsapp_content_sid=input.whatsapp_content_sid,
                whatsapp_variables=input.whatsapp_variables,
                extra_variables=confirmations.extra_variables(input.key, channel),
            )
        except DomainError as exc:
            return MessageTemplatePayload(user_errors=user_errors(exc))
        return MessageTemplatePayload(template=MessageTemplate.of(row, shop.name))
