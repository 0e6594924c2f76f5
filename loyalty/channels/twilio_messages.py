"""SMS and WhatsApp through Twilio's Messages API.

Both go through the same endpoint; WhatsApp differs only in its
`whatsapp:+44...` addresses and in needing an approved template
(`ContentSid`) outside the 24-hour customer-service window.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Literal

import httpx
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.rest import Client

from loyalty.channels._http import parse_retry_after, transport_error
from loyalty.channels.base import (
    ChannelError,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendResult,
)
from loyalty.channels.twilio_http import clear_last_response_headers, last_response_headers

_WHATSAPP = "whatsapp:"


class TwilioErrorCode(StrEnum):
    """Twilio codes that callers act on, as found in `ChannelError.code`.

    The 2xxxx and 63016 codes come back when sending; the 3xxxx codes arrive
    later as `ErrorCode` in status callbacks.
    """

    INVALID_TO = "21211"
    NOT_MOBILE = "21614"
    UNSUBSCRIBED = "21610"
    TOO_MANY_REQUESTS = "20429"
    UNREACHABLE = "30003"
    UNKNOWN_DESTINATION = "30005"
    LANDLINE_OR_UNREACHABLE_CARRIER = "30006"
    OUTSIDE_WHATSAPP_WINDOW = "63016"


class TwilioMessagesChannel:
    """Sends SMS or WhatsApp messages with a Twilio client.

    Give a Messaging Service SID (Twilio picks the sender from its pool) or a
    From number, or both to pin the sender inside the service. The channel's
    `status_callback` is used when a message carries none of its own.
    """

    provider = "twilio"

    def __init__(
        self,
        client: Client,
        *,
        channel: Literal["sms", "whatsapp"],
        messaging_service_sid: str | None = None,
        from_: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        if not (messaging_service_sid or from_):
            raise ValueError("give a messaging_service_sid or a from_ number")
        self._client = client
        self.channel = channel
        self._messaging_service_sid = messaging_service_sid
        self._from = from_
        self._status_callback = status_callback

    def _address(self, number: str) -> str:
        if self.channel == "whatsapp" and not number.startswith(_WHATSAPP):
            return _WHATSAPP + number
        return number

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.channel != self.channel:
            raise ValueError(f"{self.channel} channel given a {message.channel} message")
        params: dict[str, str] = {"to": self._address(message.to)}
        if sender := message.sender or self._from:
            params["from_"] = self._address(sender)
        if self._messaging_service_sid:
            params["messaging_service_sid"] = self._messaging_service_sid
        if status_callback := message.status_callback or self._status_callback:
            params["status_callback"] = status_callback
        if message.content_sid:
            params["content_sid"] = message.content_sid
            if message.content_variables:
                params["content_variables"] = json.dumps(dict(message.content_variables))
        else:
            params["body"] = message.body

        clear_last_response_headers()
        try:
            created = await self._client.messages.create_async(**params)  # type: ignore[arg-type]
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _map_error(exc) from exc
        except httpx.TransportError as exc:
            raise transport_error(self.provider, exc) from exc
        return SendResult(self.provider, created.sid or "", created.status or "")


def _map_error(exc: TwilioRestException | TwilioServiceException) -> ChannelError:
    """Rate limits and Twilio's own failures retry; everything else is permanent."""
    code = str(exc.code) if exc.code is not None else str(exc.status)
    text = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
    if exc.status == 429 or exc.status >= 500 or code == TwilioErrorCode.TOO_MANY_REQUESTS:
        headers = last_response_headers()
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RetryableSendError(text, code=code, retry_after=retry_after)
    return PermanentSendError(text, code=code)
