"""Run the twilio SDK over httpx.

The SDK's own async client uses aiohttp, which respx cannot intercept and
which would give the process a second connection pool. This adapter plugs a
shared `httpx.AsyncClient` into `twilio.rest.Client(http_client=...)` so the
SDK's `*_async` methods pool connections with everything else.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

_logger = logging.getLogger(__name__)

_JSON_TYPES = ("application/json", "application/scim+json")

# Twilio's exceptions keep the status and body but drop the response headers;
# the adapter records them here so the caller can still read Retry-After.
# A ContextVar keeps concurrent sends on one client from seeing each other's.
_last_headers: ContextVar[httpx.Headers | None] = ContextVar("twilio_last_headers", default=None)


def last_response_headers() -> httpx.Headers | None:
    """Headers of the latest Twilio response seen in the current context."""
    return _last_headers.get()


def clear_last_response_headers() -> None:
    _last_headers.set(None)


class HttpxTwilioClient(AsyncHttpClient):
    """`twilio.http.AsyncHttpClient` backed by a caller-owned `httpx.AsyncClient`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        timeout: float | None = None,
        logger: logging.Logger = _logger,
    ) -> None:
        super().__init__(logger, is_async=True, timeout=timeout)
        self._client = client

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        content_type = (headers or {}).get("Content-Type", "")
        body: dict[str, object] = (
            {"json": data} if content_type.startswith(_JSON_TYPES) else {"data": data}
        )
        timeout = timeout if timeout is not None else self.timeout
        response = await self._client.request(
            method.upper(),
            uri,
            params=params,  # type: ignore[arg-type]
            headers=headers,
            auth=auth,
            follow_redirects=allow_redirects,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            **body,  # type: ignore[arg-type]
        )
        _last_headers.set(response.headers)
        return Response(response.status_code, response.text, response.headers)


def twilio_client(
    account_sid: str,
    auth_token: str,
    http: httpx.AsyncClient,
    *,
    api_key_sid: str | None = None,
    timeout: float | None = None,
) -> Client:
    """A Twilio REST client that sends through `http`.

    With `api_key_sid`, `auth_token` is that API key's secret (Twilio's
    recommended credentials for production); otherwise it is the account's
    auth token.
    """
    return Client(
        api_key_sid or account_sid,
        auth_token,
        account_sid=account_sid,
        http_client=HttpxTwilioClient(http, timeout=timeout),
    )
