"""Email over SMTP, for shops that bring their own mail server or relay."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import aiosmtplib

from loyalty.channels.base import (
    ChannelError,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendResult,
)


def build_email(message: OutboundMessage, sender: str) -> EmailMessage:
    """A MIME message: the text part, plus an HTML alternative when given.

    The Message-ID is made here, with the sender's domain, so that it is known
    before the server sees the message and can be stored as the provider id.
    """
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = make_msgid(domain=domain)
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


class SmtpEmailChannel:
    """Sends each email on its own SMTP connection.

    `start_tls` follows aiosmtplib: None upgrades when the server offers
    STARTTLS, True insists on it, False never upgrades. `use_tls` is for
    servers that speak TLS from the first byte (usually port 465).
    """

    provider = "smtp"
    channel = "email"

    def __init__(
        self,
        *,
        host: str,
        from_address: str,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool | None = None,
        use_tls: bool = False,
        timeout: float = 30.0,
        local_hostname: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._from = from_address
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._use_tls = use_tls
        self._timeout = timeout
        self._local_hostname = local_hostname

    def __repr__(self) -> str:
        return f"SmtpEmailChannel(host={self._host!r}, port={self._port})"

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.channel != "email":
            raise ValueError(f"email channel given a {message.channel} message")
        email = build_email(message, message.sender or self._from)
        try:
            await aiosmtplib.send(
                email,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._start_tls,
                use_tls=self._use_tls,
                timeout=self._timeout,
                local_hostname=self._local_hostname,
            )
        except aiosmtplib.SMTPException as exc:
            raise _map_error(exc) from exc
        except OSError as exc:
            raise RetryableSendError(f"smtp: {exc}", code="connection") from exc
        return SendResult(self.provider, email["Message-ID"], "sent")


def _map_error(exc: aiosmtplib.SMTPException) -> ChannelError:
    """SMTP's own rule: 4xx replies are transient, 5xx are final."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        error_class = PermanentSendError if exc.code >= 500 else RetryableSendError
        return error_class(exc.message, code=str(exc.code))
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentSendError(str(exc), code="not_supported")
    code = "timeout" if isinstance(exc, aiosmtplib.SMTPTimeoutError) else "connection"
    return RetryableSendError(str(exc), code=code)
