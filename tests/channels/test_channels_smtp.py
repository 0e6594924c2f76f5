"""SMTP email end to end against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from loyalty.channels import (
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SmtpEmailChannel,
)

UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://loyalty.shop.example/u/abc123>, <mailto:unsub@shop.example>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts, or answers with set replies."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str = "250 OK") -> None:
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.data_reply.startswith("250"):
            self.envelopes.append(envelope)
        return self.data_reply

    def authenticate(self, server, session: Session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)


@pytest.fixture
async def smtp_server() -> AsyncIterator[Callable]:
    """Starts an SMTP server for a handler on a free port; returns the port."""
    servers: list[asyncio.Server] = []
    loop = asyncio.get_running_loop()

    async def start(mailbox: Mailbox) -> int:
        server = await loop.create_server(
            lambda: SMTP(
                mailbox,
                hostname="mx.test",
                authenticator=mailbox.authenticate,
                auth_require_tls=False,
                loop=loop,
            ),
            host="127.0.0.1",
            port=0,
        )
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def channel(port: int, **options) -> SmtpEmailChannel:
    return SmtpEmailChannel(
        host="127.0.0.1",
        port=port,
        from_address="Corner Shop <hello@shop.example>",
        local_hostname="app.test",
        timeout=5,
        **options,
    )


def email(**fields) -> OutboundMessage:
    defaults = {
        "channel": "email",
        "to": "alice@example.org",
        "subject": "You have 250 points",
        "body": "Hi Alice, you have 250 points.",
    }
    return OutboundMessage(**(defaults | fields))


async def test_sends_text_and_html_with_one_click_unsubscribe(smtp_server) -> None:
    mailbox = Mailbox()
    port = await smtp_server(mailbox)

    result = await channel(port).send(
        email(html="<p>Hi Alice, you have <b>250</b> points.</p>", headers=UNSUBSCRIBE)
    )

    assert (result.provider, result.status) == ("smtp", "sent")
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "hello@shop.example"
    assert envelope.rcpt_tos == ["alice@example.org"]
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    assert isinstance(received, EmailMessage)
    assert received["Message-ID"] == result.provider_id
    assert result.provider_id.endswith("@shop.example>")
    assert received["From"] == "Corner Shop <hello@shop.example>"
    assert received["To"] == "alice@example.org"
    assert received["Subject"] == "You have 250 points"
    # The long header arrives folded; unfolded it must be exactly what was given.
    assert received["List-Unsubscribe"].strip() == UNSUBSCRIBE["List-Unsubscribe"]
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text.get_content().strip() == "Hi Alice, you have 250 points."
    assert html.get_content().strip() == "<p>Hi Alice, you have <b>250</b> points.</p>"


async def test_text_only_with_sender_override_and_login(smtp_server) -> None:
    mailbox = Mailbox()
    port = await smtp_server(mailbox)

    await channel(port, username="relay-user", password="relay-pass").send(
        email(sender="Other Shop <team@other.example>")
    )

    [envelope] = mailbox.envelopes
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    assert envelope.mail_from == "team@other.example"
    assert received.get_content_type() == "text/plain"
    assert mailbox.logins == [(b"relay-user", b"relay-pass")]


@pytest.mark.parametrize(
    ("mailbox", "error", "code"),
    [
        (Mailbox(rcpt_reply="550 5.1.1 No such user here"), PermanentSendError, "550"),
        (Mailbox(data_reply="451 4.3.0 Try again later"), RetryableSendError, "451"),
        (Mailbox(data_reply="554 5.7.1 Message rejected"), PermanentSendError, "554"),
    ],
)
async def test_smtp_replies_map_to_typed_errors(
    smtp_server, mailbox: Mailbox, error: type, code: str
) -> None:
    port = await smtp_server(mailbox)

    with pytest.raises(error) as caught:
        await channel(port).send(email())

    assert caught.value.code == code


async def test_refused_connection_is_retryable() -> None:
    with socket.socket() as reserved:  # bound but not listening: connections are refused
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        with pytest.raises(RetryableSendError) as caught:
            await channel(port).send(email())
    assert caught.value.code == "connection"
