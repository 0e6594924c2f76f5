"""Email through Twilio SendGrid's v3 Mail Send API."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

import httpx

from loyalty.channels._http import parse_retry_after, transport_error
from loyalty.channels.base import (
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendResult,
)

SENDGRID_API = "https://api.sendgrid.com"  # EU subusers use https://api.eu.sendgrid.com


def _address(value: str) -> dict[str, str]:
    """SendGrid's email object from `addr` or `Name <addr>`."""
    name, email = parseaddr(value)
    return {"email": email, "name": name} if name else {"email": email}


def mail_send_body(message: OutboundMessage, sender: str) -> dict[str, Any]:
    """The JSON for POST /v3/mail/send; SendGrid wants text/plain before text/html."""
    content = [{"type": "text/plain", "value": message.body}]
    if message.html:
        content.append({"type": "text/html", "value": message.html})
    body: dict[str, Any] = {
        "personalizations": [{"to": [_address(message.to)]}],
        "from": _address(sender),
        "subject": message.subject,
        "content": content,
    }
    if message.headers:
        body["headers"] = dict(message.headers)
    if message.metadata:
        body["custom_args"] = dict(message.metadata)
    return body


class SendGridEmailChannel:
    """Sends email with a caller-owned `httpx.AsyncClient`.

    The API key is only ever put in the Authorization header of the request;
    it is not part of the channel's repr or of any error.
    """

    provider = "sendgrid"
    channel = "email"

    def __init__(
        self,
        api_key: str,
        *,
        from_address: str,
        http: httpx.AsyncClient,
        base_url: str = SENDGRID_API,
    ) -> None:
        self._api_key = api_key
        self._from = from_address
        self._http = http
        self._url = base_url.rstrip("/") + "/v3/mail/send"

    def __repr__(self) -> str:
        return f"SendGridEmailChannel(url={self._url!r})"

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.channel != "email":
            raise ValueError(f"email channel given a {message.channel} message")
        try:
            response = await self._http.post(
                self._url,
                json=mail_send_body(message, message.sender or self._from),
                headers={"Authorization": f"Bearer {self._api_key}"},
            )
        except httpx.TransportError as exc:
            raise transport_error(self.provider, exc) from exc
        if response.is_success:
            # 202 queues the mail; 200 means sandbox mode, which sends nothing.
            status = "accepted" if response.status_code == 202 else "sandbox"
            return SendResult(self.provider, response.headers.get("X-Message-Id", ""), status)
        text = _error_text(response)
        code = str(response.status_code)
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableSendError(text, code=code, retry_after=retry_after)
        raise PermanentSendError(text, code=code)


def _error_text(response: httpx.Response) -> str:
    """SendGrid's `errors[]` as `field: message`, or the reason phrase if there are none."""
    try:
        errors = response.json().get("errors") or []
        messages = [
            f"{e['field']}: {e['message']}" if e.get("field") else e["message"]
            for e in errors
            if e.get("message")
        ]
    except (ValueError, AttributeError, TypeError):
        messages = []
    return "; ".join(messages) or f"HTTP {response.status_code} {response.reason_phrase}"
