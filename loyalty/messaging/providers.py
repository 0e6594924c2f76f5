"""Channel adapters and link settings built from the environment, in one small place.

Environment variables (secrets stay here, never in the database):

- Twilio (SMS and WhatsApp): TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN (or an API key's
  secret with TWILIO_API_KEY_SID), TWILIO_MESSAGING_SERVICE_SID, TWILIO_SMS_FROM,
  TWILIO_WHATSAPP_FROM, TWILIO_STATUS_CALLBACK_URL. A shop's own sender numbers and
  Messaging Service (MessagingSettings) take precedence over these.
- Email: SENDGRID_API_KEY (preferred when set), else SMTP_HOST, SMTP_PORT (587),
  SMTP_USERNAME, SMTP_PASSWORD, SMTP_STARTTLS (true, false, or unset to upgrade when
  offered), SMTP_TLS (implicit TLS, port 465). EMAIL_FROM is the default sender, a
  shop's `email_from` wins.
- Links: PUBLIC_BASE_URL (where /unsubscribe is served) and LOYALTY_SECRET_KEY (signs
  the tokens, read through loyalty.config).

A channel whose provider is not configured is simply absent: a message for it fails
with code `channel_not_configured` instead of being sent somewhere unexpected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from loyalty.channels import (
    Channel as ChannelAdapter,
)
from loyalty.channels import (
    SendGridEmailChannel,
    SmtpEmailChannel,
    TwilioMessagesChannel,
    twilio_client,
)
from loyalty.config import get_settings
from loyalty.consent.models import Channel
from loyalty.messaging.models import MessagingSettings

DEFAULT_PUBLIC_BASE_URL = "http://localhost:8000"


def _optional_bool(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LinkSettings:
    """What the unsubscribe links in messages are built from."""

    public_base_url: str
    secret_key: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LinkSettings:
        env = os.environ if env is None else env
        return cls(
            public_base_url=env.get("PUBLIC_BASE_URL") or DEFAULT_PUBLIC_BASE_URL,
            secret_key=get_settings().secret_key,
        )


@dataclass(frozen=True)
class ProviderSettings:
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_api_key_sid: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_status_callback: str | None = None
    sendgrid_api_key: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool | None = None
    smtp_tls: bool = False
    email_from: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProviderSettings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(name) or None

        port = get("SMTP_PORT")
        if port is not None and not port.isdigit():
            raise ValueError(f"SMTP_PORT must be a port number, not {port!r}")
        return cls(
            twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_api_key_sid=get("TWILIO_API_KEY_SID"),
            twilio_messaging_service_sid=get("TWILIO_MESSAGING_SERVICE_SID"),
            twilio_sms_from=get("TWILIO_SMS_FROM"),
            twilio_whatsapp_from=get("TWILIO_WHATSAPP_FROM"),
            twilio_status_callback=get("TWILIO_STATUS_CALLBACK_URL"),
            sendgrid_api_key=get("SENDGRID_API_KEY"),
            smtp_host=get("SMTP_HOST"),
            smtp_port=int(port) if port else 587,
            smtp_username=get("SMTP_USERNAME"),
            smtp_password=get("SMTP_PASSWORD"),
            smtp_starttls=_optional_bool(env.get("SMTP_STARTTLS")),
            smtp_tls=bool(_optional_bool(env.get("SMTP_TLS"))),
            email_from=get("EMAIL_FROM"),
        )


def build_channels(
    provider: ProviderSettings, shop: MessagingSettings, http: httpx.AsyncClient
) -> dict[Channel, ChannelAdapter]:
    """The adapters a shop's messages go through, sharing the caller's `http` client."""
    channels: dict[Channel, ChannelAdapter] = {}
    if provider.twilio_account_sid and provider.twilio_auth_token:
        client = twilio_client(
            provider.twilio_account_sid,
            provider.twilio_auth_token,
            http,
            api_key_sid=provider.twilio_api_key_sid,
        )
        service = shop.messaging_service_sid or provider.twilio_messaging_service_sid
        sms_from = shop.sms_from or provider.twilio_sms_from
        if service or sms_from:
            channels[Channel.SMS] = TwilioMessagesChannel(
                client,
                channel="sms",
                messaging_service_sid=service,
                from_=sms_from,
                status_callback=provider.twilio_status_callback,
            )
        whatsapp_from = shop.whatsapp_from or provider.twilio_whatsapp_from
        if whatsapp_from or service:
            channels[Channel.WHATSAPP] = TwilioMessagesChannel(
                client,
                channel="whatsapp",
                messaging_service_sid=None if whatsapp_from else service,
                from_=whatsapp_from,
                status_callback=provider.twilio_status_callback,
            )
    email_from = shop.email_from or provider.email_from
    if email_from and provider.sendgrid_api_key:
        channels[Channel.EMAIL] = SendGridEmailChannel(
            provider.sendgrid_api_key, from_address=email_from, http=http
        )
    elif email_from and provider.smtp_host:
        channels[Channel.EMAIL] = SmtpEmailChannel(
            host=provider.smtp_host,
            port=provider.smtp_port,
            from_address=email_from,
            username=provider.smtp_username,
            password=provider.smtp_password,
            start_tls=provider.smtp_starttls,
            use_tls=provider.smtp_tls,
        )
    return channels
