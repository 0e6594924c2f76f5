"""The double opt-in confirmation email: queued when email marketing goes pending.

Rules, in one place:

- A consent confirmation is a **service message**: it is queued as TRANSACTIONAL email,
  so it goes without marketing consent (and outside quiet hours), unless the customer
  unsubscribed from transactional email.
- It carries the signed link for the pending request (`consent.service.
  confirmation_token`, `links.confirmation_url`); a newer request has a new nonce, so
  it gets its own email and the older link stops working.
- The text is the shop's email template with key `consent_confirmation` when it has
  one that places `{{ confirmation_url }}` and renders, else the built-in default.
  Such a template may use `confirmation_url` beside the usual personalisation.
- Idempotent per request: the key is `consent-confirmation:<state id>:<nonce>`.
  Nothing is enqueued here: the caller enqueues `send_message(message.id)` after its
  transaction commits.

This module imports both consent and messaging (consent never imports messaging).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from loyalty.consent import links
from loyalty.consent import service as consent
from loyalty.consent.models import Channel, ConsentState, ConsentStatus, Purpose
from loyalty.customers.models import Customer
from loyalty.errors import DomainError
from loyalty.messaging.models import Message, MessageTemplate
from loyalty.messaging.providers import LinkSettings
from loyalty.messaging.service import queue_message
from loyalty.messaging.templates import TemplateError, uses_variable

log = logging.getLogger(__name__)

TEMPLATE_KEY = "consent_confirmation"
#: Names a `consent_confirmation` template may use beyond the standard personalisation.
VARIABLES = frozenset({"confirmation_url"})
SOURCE = "consent:double_opt_in"

DEFAULT_SUBJECT = "Please confirm your subscription to {{ shop_name }}"
DEFAULT_BODY = """\
{% if first_name %}Hi {{ first_name }},{% else %}Hello,{% endif %}

Please confirm that you would like to receive marketing emails from {{ shop_name }} \
by following this link:

{{ confirmation_url }}

The link is valid for 7 days. If you did not ask for this, ignore this email: \
you will not be subscribed.
"""
DEFAULT_HTML = """\
<p>{% if first_name %}Hi {{ first_name }},{% else %}Hello,{% endif %}</p>
<p>Please confirm that you would like to receive marketing emails from {{ shop_name }}.</p>
<p><a href="{{ confirmation_url }}">Confirm my subscription</a></p>
<p>The link is valid for 7 days. If you did not ask for this, ignore this email: \
you will not be subscribed.</p>
"""


def link_settings(secret_key: str) -> LinkSettings:
    """Links signed with `secret_key` (the app's), under PUBLIC_BASE_URL."""
    return dataclasses.replace(LinkSettings.from_env(), secret_key=secret_key)


def is_confirmation_template(key: str, channel: Channel | str) -> bool:
    return key == TEMPLATE_KEY and Channel(channel) is Channel.EMAIL


def extra_variables(key: str, channel: Channel | str) -> frozenset[str]:
    """What a template with this key and channel may use beyond the personalisation."""
    return VARIABLES if is_confirmation_template(key, channel) else frozenset()


def _places_link(body: str) -> bool:
    return uses_variable(body, "confirmation_url")


def check_template(key: str, channel: Channel | str, body: str) -> None:
    """A shop's confirmation email must place the link in its text body."""
    if is_confirmation_template(key, channel) and not _places_link(body):
        raise DomainError(
            "INVALID",
            "the consent confirmation email must contain {{ confirmation_url }} in its body",
            "body",
        )


def preview_context(key: str, channel: Channel | str, settings: LinkSettings) -> dict[str, Any]:
    """Values for previewing a template: a sample link for the confirmation email."""
    if not is_confirmation_template(key, channel):
        return {}
    return {"confirmation_url": links.confirmation_url(settings.public_base_url, "preview")}


async def email_for_change(
    customer: Customer, change: consent.ConsentChange, *, link_settings: LinkSettings
) -> Message | None:
    """The confirmation email a consent change calls for: queued when the change made a
    new pending request (an event appended), else None."""
    if change.state.status != ConsentStatus.PENDING or change.event is None:
        return None
    return await request_confirmation_email(customer, change.state, link_settings=link_settings)


async def request_confirmation_email(
    customer: Customer, state: ConsentState, *, link_settings: LinkSettings | None = None
) -> Message:
    """Queue the confirmation email for a pending email consent (see the module docstring).

    Returns the message (QUEUED, or SKIPPED without an email address); the same pending
    request always gives the same row.
    """
    if state.channel != Channel.EMAIL or state.status != ConsentStatus.PENDING:
        raise DomainError("INVALID", "no email confirmation is pending")
    settings = link_settings or LinkSettings.from_env()
    token = consent.confirmation_token(settings.secret_key, state)
    context = {"confirmation_url": links.confirmation_url(settings.public_base_url, token)}
    options: dict[str, Any] = {
        "source": SOURCE,
        "idempotency_key": f"consent-confirmation:{state.id}:{state.confirmation_nonce}",
        "context": context,
        "link_settings": settings,
    }
    template = await MessageTemplate.get_or_none(
        shop_id=customer.shop_id, key=TEMPLATE_KEY, channel=Channel.EMAIL
    )
    if template is not None and _places_link(template.body):
        try:
            return await queue_message(
                customer, Channel.EMAIL, Purpose.TRANSACTIONAL, template_key=TEMPLATE_KEY, **options
            )
        except TemplateError as exc:
            log.warning(
                "shop %s: consent_confirmation template failed (%s), using the default",
                customer.shop_id,
                exc.message,
            )
    return await queue_message(
        customer,
        Channel.EMAIL,
        Purpose.TRANSACTIONAL,
        content=DEFAULT_BODY,
        subject=DEFAULT_SUBJECT,
        html=DEFAULT_HTML,
        **options,
    )
