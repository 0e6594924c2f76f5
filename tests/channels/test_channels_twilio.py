"""Twilio SMS and WhatsApp sends, checked at the HTTP edge with respx."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from loyalty.channels import (
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendResult,
    TwilioErrorCode,
    TwilioMessagesChannel,
    twilio_client,
)

ACCOUNT = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
TOKEN = "test-auth-token"
SERVICE = "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
CALLBACK = "https://loyalty.shop.example/webhooks/twilio/status"


@pytest.fixture
def created(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "twilio_message_create_response.json").read_text())


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True)


def twilio_error(status: int, code: int, message: str) -> dict:
    """An error body in the legacy shape the Messages API returns."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


async def test_sms_through_messaging_service(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter, created: dict
) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    channel = TwilioMessagesChannel(
        twilio_client(ACCOUNT, TOKEN, http),
        channel="sms",
        messaging_service_sid=SERVICE,
        status_callback=CALLBACK,
    )

    result = await channel.send(
        OutboundMessage(channel="sms", to="+447700900123", body="You have 250 points £")
    )

    assert result == SendResult("twilio", "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sent")
    request = route.calls.last.request
    assert form(request) == {
        "To": ["+447700900123"],
        "MessagingServiceSid": [SERVICE],
        "Body": ["You have 250 points £"],
        "StatusCallback": [CALLBACK],
    }
    basic = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_sms_from_number_with_per_message_callback(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter, created: dict
) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    channel = TwilioMessagesChannel(
        twilio_client(ACCOUNT, TOKEN, http), channel="sms", from_="+447700900000"
    )

    await channel.send(
        OutboundMessage(
            channel="sms", to="+447700900123", body="Hi", status_callback=CALLBACK + "?m=42"
        )
    )

    assert form(route.calls.last.request) == {
        "To": ["+447700900123"],
        "From": ["+447700900000"],
        "Body": ["Hi"],
        "StatusCallback": [CALLBACK + "?m=42"],
    }


async def test_api_key_credentials_keep_the_account_in_the_url(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter, created: dict
) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    client = twilio_client(ACCOUNT, "key-secret", http, api_key_sid="SKbbbb")
    channel = TwilioMessagesChannel(client, channel="sms", messaging_service_sid=SERVICE)

    await channel.send(OutboundMessage(channel="sms", to="+447700900123", body="Hi"))

    basic = base64.b64encode(b"SKbbbb:key-secret").decode()
    assert route.calls.last.request.headers["Authorization"] == f"Basic {basic}"


async def test_whatsapp_free_text_inside_the_window(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter, created: dict
) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    channel = TwilioMessagesChannel(
        twilio_client(ACCOUNT, TOKEN, http),
        channel="whatsapp",
        from_="+447700900000",
        status_callback=CALLBACK,
    )

    await channel.send(
        OutboundMessage(channel="whatsapp", to="+447700900123", body="Thanks for your order!")
    )

    assert form(route.calls.last.request) == {
        "To": ["whatsapp:+447700900123"],
        "From": ["whatsapp:+447700900000"],
        "Body": ["Thanks for your order!"],
        "StatusCallback": [CALLBACK],
    }


async def test_whatsapp_template_outside_the_window(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter, created: dict
) -> None:
    route = respx_mock.post(MESSAGES_URL).respond(201, json=created)
    channel = TwilioMessagesChannel(
        twilio_client(ACCOUNT, TOKEN, http), channel="whatsapp", messaging_service_sid=SERVICE
    )

    await channel.send(
        OutboundMessage(
            channel="whatsapp",
            to="whatsapp:+447700900123",
            content_sid="HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            content_variables={"1": "Alice", "2": "250"},
        )
    )

    sent = form(route.calls.last.request)
    assert json.loads(sent.pop("ContentVariables")[0]) == {"1": "Alice", "2": "250"}
    assert sent == {
        "To": ["whatsapp:+447700900123"],
        "MessagingServiceSid": [SERVICE],
        "ContentSid": ["HXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
    }


ERRORS = [
    pytest.param(
        httpx.Response(
            400,
            json=twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
        ),
        PermanentSendError,
        TwilioErrorCode.UNSUBSCRIBED,
        None,
        id="21610-unsubscribed",
    ),
    pytest.param(
        httpx.Response(
            400,
            json=twilio_error(
                400, 21211, "The 'To' number 5551234567 is not a valid phone number."
            ),
        ),
        PermanentSendError,
        TwilioErrorCode.INVALID_TO,
        None,
        id="21211-invalid-to",
    ),
    pytest.param(
        httpx.Response(
            400,
            json=twilio_error(
                400,
                63016,
                "Outside messaging window. For WhatsApp, use a Message Template instead",
            ),
        ),
        PermanentSendError,
        TwilioErrorCode.OUTSIDE_WHATSAPP_WINDOW,
        None,
        id="63016-outside-window",
    ),
    pytest.param(
        httpx.Response(
            429,
            json=twilio_error(429, 20429, "Too Many Requests"),
            headers={"Retry-After": "7"},
        ),
        RetryableSendError,
        "20429",
        7.0,
        id="429-retry-after",
    ),
    pytest.param(
        httpx.Response(500, json=twilio_error(500, 20500, "Internal Server Error")),
        RetryableSendError,
        "20500",
        None,
        id="500",
    ),
    pytest.param(
        httpx.Response(503, text="<html>Service Unavailable</html>"),
        RetryableSendError,
        "503",
        None,
        id="503-not-json",
    ),
    pytest.param(
        httpx.Response(
            400,
            json={
                "type": "https://www.twilio.com/docs/errors/21211",
                "title": "Invalid 'To' Phone Number",
                "status": 400,
                "code": 21211,
                "detail": "The 'To' number 5551234567 is not a valid phone number.",
            },
        ),
        PermanentSendError,
        "21211",
        None,
        id="rfc9457-body",
    ),
]


@pytest.mark.parametrize(("response", "error", "code", "retry_after"), ERRORS)
async def test_twilio_errors_map_to_typed_errors(
    http: httpx.AsyncClient,
    respx_mock: respx.MockRouter,
    response: httpx.Response,
    error: type,
    code: str,
    retry_after: float | None,
) -> None:
    respx_mock.post(MESSAGES_URL).mock(return_value=response)
    channel = TwilioMessagesChannel(
        twilio_client(ACCOUNT, TOKEN, http), channel="whatsapp", messaging_service_sid=SERVICE
    )

    with pytest.raises(error) as caught:
        await channel.send(OutboundMessage(channel="whatsapp", to="+447700900123", body="Hi"))

    assert caught.value.code == code
    assert caught.value.retryable is (error is RetryableSendError)
    assert getattr(caught.value, "retry_after", None) == retry_after
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("exc", "code"), [(httpx.ConnectTimeout, "timeout"), (httpx.ConnectError, "connection")]
)
async def test_network_faults_are_retryable(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter, exc: type, code: str
) -> None:
    respx_mock.post(MESSAGES_URL).mock(side_effect=exc)
    channel = TwilioMessagesChannel(
        twilio_client(ACCOUNT, TOKEN, http), channel="sms", messaging_service_sid=SERVICE
    )

    with pytest.raises(RetryableSendError) as caught:
        await channel.send(OutboundMessage(channel="sms", to="+447700900123", body="Hi"))

    assert caught.value.code == code


async def test_channel_refuses_a_message_for_another_channel(http: httpx.AsyncClient) -> None:
    channel = TwilioMessagesChannel(
        twilio_client(ACCOUNT, TOKEN, http), channel="sms", messaging_service_sid=SERVICE
    )
    with pytest.raises(ValueError, match="sms channel given a whatsapp message"):
        await channel.send(OutboundMessage(channel="whatsapp", to="+447700900123", body="Hi"))
