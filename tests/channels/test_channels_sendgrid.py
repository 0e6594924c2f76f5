"""SendGrid v3 Mail Send, checked at the HTTP edge with respx."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from loyalty.channels import (
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendGridEmailChannel,
    SendResult,
)

API_KEY = "SG.test-key.not-a-real-secret"
MAIL_SEND = "https://api.sendgrid.com/v3/mail/send"


def channel(http: httpx.AsyncClient) -> SendGridEmailChannel:
    return SendGridEmailChannel(API_KEY, from_address="Corner Shop <hello@shop.example>", http=http)


def email(**fields) -> OutboundMessage:
    defaults = {
        "channel": "email",
        "to": "alice@example.org",
        "subject": "You have 250 points",
        "body": "Hi Alice, you have 250 points.",
    }
    return OutboundMessage(**(defaults | fields))


async def test_send_posts_the_v3_body_and_returns_the_message_id(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MAIL_SEND).respond(
        202, headers={"X-Message-Id": "W86EgYT6SQKk0lRflfLRsA"}
    )

    result = await channel(http).send(
        email(
            html="<p>Hi Alice</p>",
            headers={
                "List-Unsubscribe": "<https://loyalty.shop.example/u/abc123>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            metadata={"message_id": "42", "shop": "corner"},
        )
    )

    assert result == SendResult("sendgrid", "W86EgYT6SQKk0lRflfLRsA", "accepted")
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "personalizations": [{"to": [{"email": "alice@example.org"}]}],
        "from": {"email": "hello@shop.example", "name": "Corner Shop"},
        "subject": "You have 250 points",
        "content": [
            {"type": "text/plain", "value": "Hi Alice, you have 250 points."},
            {"type": "text/html", "value": "<p>Hi Alice</p>"},
        ],
        "headers": {
            "List-Unsubscribe": "<https://loyalty.shop.example/u/abc123>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "custom_args": {"message_id": "42", "shop": "corner"},
    }


async def test_minimal_body_with_sender_override(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MAIL_SEND).respond(202, headers={"X-Message-Id": "abc"})

    await channel(http).send(email(sender="team@other.example"))

    assert json.loads(route.calls.last.request.content) == {
        "personalizations": [{"to": [{"email": "alice@example.org"}]}],
        "from": {"email": "team@other.example"},
        "subject": "You have 250 points",
        "content": [{"type": "text/plain", "value": "Hi Alice, you have 250 points."}],
    }


VERIFIED_SENDER = (
    "The from address does not match a verified Sender Identity. Mail cannot be sent "
    "until this error is resolved."
)


@pytest.mark.parametrize(
    ("response", "error", "code", "message", "retry_after"),
    [
        pytest.param(
            httpx.Response(
                403,
                json={"errors": [{"message": VERIFIED_SENDER, "field": "from", "help": None}]},
            ),
            PermanentSendError,
            "403",
            f"from: {VERIFIED_SENDER}",
            None,
            id="403-unverified-sender",
        ),
        pytest.param(
            httpx.Response(
                400,
                json={
                    "errors": [
                        {
                            "message": "Does not contain a valid address.",
                            "field": "personalizations.0.to.0.email",
                            "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to",
                        },
                        {"message": "The subject is required.", "field": "subject"},
                    ]
                },
            ),
            PermanentSendError,
            "400",
            "personalizations.0.to.0.email: Does not contain a valid address.; "
            "subject: The subject is required.",
            None,
            id="400-two-errors",
        ),
        pytest.param(
            httpx.Response(
                401,
                json={
                    "errors": [
                        {
                            "field": None,
                            "message": "The provided authorization grant is invalid, "
                            "expired, or revoked",
                        }
                    ]
                },
            ),
            PermanentSendError,
            "401",
            "The provided authorization grant is invalid, expired, or revoked",
            None,
            id="401-bad-key",
        ),
        pytest.param(
            httpx.Response(
                429,
                json={"errors": [{"field": None, "message": "too many requests"}]},
                headers={"Retry-After": "30"},
            ),
            RetryableSendError,
            "429",
            "too many requests",
            30.0,
            id="429-retry-after",
        ),
        pytest.param(
            httpx.Response(503, text="upstream connect error"),
            RetryableSendError,
            "503",
            "HTTP 503 Service Unavailable",
            None,
            id="503-not-json",
        ),
    ],
)
async def test_sendgrid_errors_map_to_typed_errors(
    http: httpx.AsyncClient,
    respx_mock: respx.MockRouter,
    response: httpx.Response,
    error: type,
    code: str,
    message: str,
    retry_after: float | None,
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=response)

    with pytest.raises(error) as caught:
        await channel(http).send(email())

    assert (caught.value.code, caught.value.message) == (code, message)
    assert getattr(caught.value, "retry_after", None) == retry_after
    assert API_KEY not in str(caught.value)


async def test_timeout_is_retryable(http: httpx.AsyncClient, respx_mock: respx.MockRouter) -> None:
    respx_mock.post(MAIL_SEND).mock(side_effect=httpx.ReadTimeout)

    with pytest.raises(RetryableSendError) as caught:
        await channel(http).send(email())

    assert caught.value.code == "timeout"


def test_api_key_stays_out_of_the_repr(http: httpx.AsyncClient) -> None:
    assert API_KEY not in repr(channel(http))
