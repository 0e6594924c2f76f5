"""The one interface every message channel implements.

Channels take plain values and return plain values: they know nothing about
the database, consent or retries. Callers decide what to do with a failure
from its type (`RetryableSendError` or `PermanentSendError`) and its provider
`code` (for example Twilio's 21610, which means the recipient has opted out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

ChannelName = Literal["email", "sms", "whatsapp"]

# Headers the email adapters write themselves; letting a caller set them would
# produce duplicates or a message that disagrees with its envelope.
RESERVED_EMAIL_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to one recipient on one channel.

    `body` is the plain text (the SMS/WhatsApp text, or the email's text part).
    A WhatsApp message outside the 24-hour customer-service window must be an
    approved template: pass `content_sid` (and `content_variables`) instead of
    `body`. `sender` overrides the channel's configured From for this message.
    `metadata` travels with the message where the provider supports it
    (SendGrid `custom_args`); it is ignored elsewhere.
    """

    channel: ChannelName
    to: str
    body: str = ""
    subject: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_sid: str | None = None
    content_variables: Mapping[str, str] | None = None
    status_callback: str | None = None
    sender: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.channel not in ("email", "sms", "whatsapp"):
            raise ValueError(f"unknown channel {self.channel!r}")
        if not self.to:
            raise ValueError("a message needs a recipient")
        if self.channel == "email":
            if not self.subject:
                raise ValueError("an email needs a subject")
            reserved = sorted(k for k in self.headers if k.lower() in RESERVED_EMAIL_HEADERS)
            if reserved:
                raise ValueError(f"headers set by the channel itself: {', '.join(reserved)}")
        for name, value in self.headers.items():
            if any(c in name + value for c in "\r\n"):
                raise ValueError(f"header {name!r} contains a line break")
        if self.content_sid is None and not self.body:
            raise ValueError("a message needs a body or a content_sid")
        if self.content_sid is not None and self.channel != "whatsapp":
            raise ValueError("content_sid is only supported on whatsapp")


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider accepted: its id for the message and its first status."""

    provider: str
    provider_id: str
    status: str


class ChannelError(Exception):
    """A send failed. `code` is the provider's error code as a string."""

    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


class RetryableSendError(ChannelError):
    """Worth trying again later: rate limits, provider outages, network faults."""

    retryable = True

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentSendError(ChannelError):
    """Sending the same message again will fail the same way."""


@runtime_checkable
class Channel(Protocol):
    """Anything that can send an `OutboundMessage`."""

    async def send(self, message: OutboundMessage) -> SendResult: ...
