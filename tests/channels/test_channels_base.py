"""The shared interface: message validation, error types, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from loyalty.channels import (
    Channel,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendGridEmailChannel,
    SmtpEmailChannel,
    TwilioMessagesChannel,
    twilio_client,
)
from loyalty.channels._http import parse_retry_after


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"channel": "fax", "to": "x", "body": "x"}, "unknown channel"),
        ({"channel": "sms", "to": "", "body": "x"}, "needs a recipient"),
        ({"channel": "sms", "to": "+447700900123"}, "needs a body or a content_sid"),
        ({"channel": "email", "to": "a@example.org", "body": "x"}, "needs a subject"),
        (
            {"channel": "sms", "to": "+447700900123", "content_sid": "HX1"},
            "content_sid is only supported on whatsapp",
        ),
        (
            {
                "channel": "email",
                "to": "a@example.org",
                "subject": "s",
                "body": "x",
                "headers": {"From": "evil@example.org"},
            },
            "set by the channel itself: From",
        ),
        (
            {
                "channel": "email",
                "to": "a@example.org",
                "subject": "s",
                "body": "x",
                "headers": {"X-Tag": "a\r\nBcc: evil@example.org"},
            },
            "contains a line break",
        ),
    ],
)
def test_invalid_messages_are_refused_at_construction(fields: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        OutboundMessage(**fields)


def test_errors_say_whether_to_retry() -> None:
    retry = RetryableSendError("busy", code="20429", retry_after=3)
    final = PermanentSendError("opted out", code="21610")
    assert (retry.retryable, retry.retry_after, str(retry)) == (True, 3, "[20429] busy")
    assert (final.retryable, final.code, final.message) == (False, "21610", "opted out")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("120", 120.0), ("soon", None)],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= parse_retry_after(when) <= 90
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(past) == 0.0


def test_every_adapter_is_a_channel(http: httpx.AsyncClient) -> None:
    adapters = [
        TwilioMessagesChannel(
            twilio_client("AC1", "t", http), channel="sms", from_="+447700900000"
        ),
        SmtpEmailChannel(host="127.0.0.1", from_address="a@example.org"),
        SendGridEmailChannel("SG.x", from_address="a@example.org", http=http),
    ]
    assert all(isinstance(adapter, Channel) for adapter in adapters)
