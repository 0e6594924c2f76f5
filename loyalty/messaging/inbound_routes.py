"""The HTTP edge of Twilio callbacks: X-Twilio-Signature, then `loyalty.messaging.inbound`.

Mounted by `loyalty.web`; the messaging services never import this module.

- POST /webhooks/twilio/{shop}/status    status callback (set as a message's StatusCallback)
- POST /webhooks/twilio/{shop}/inbound   the number's / Messaging Service's incoming webhook
- POST /webhooks/twilio/status           the same, the shop taken from the Message row
- POST /webhooks/twilio/inbound          the same, the shop taken from To / MessagingServiceSid

Every request must carry a valid X-Twilio-Signature, checked with twilio's
RequestValidator over the public URL Twilio requested and every form parameter
received. A missing or bad signature gets 403 and a log line and is never processed.
A verified inbound message is stored before it is acted on (`inbound.receive_inbound`).

Environment (read on each request, so nothing is cached across a settings change):

- TWILIO_AUTH_TOKEN  the account's Auth Token, the signing key. Unset: every request is 403.
- PUBLIC_BASE_URL    the public origin (plus any path prefix a proxy strips), e.g.
                     https://loyalty.example.co.uk: the URL checked is that + path + query.
- TRUST_PROXY        when true (1/true/yes/on) and PUBLIC_BASE_URL is unset, the scheme
                     and host come from X-Forwarded-Proto / X-Forwarded-Host (first value).
                     Only set it when a proxy you run overwrites those headers.

Otherwise the URL is the one the app received, which is right only without a proxy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from loyalty.messaging import inbound

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-twilio-signature"
_TRUE = {"1", "true", "yes", "on"}


def auth_token(env: Mapping[str, str] | None = None) -> str:
    return ((env if env is not None else os.environ).get("TWILIO_AUTH_TOKEN") or "").strip()


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def public_url(request: Request, env: Mapping[str, str] | None = None) -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL, else trusted forwarded headers, else as received."""
    env = env if env is not None else os.environ
    path = request.url.path
    query = request.url.query
    path_and_query = path + (f"?{query}" if query else "")
    base = (env.get("PUBLIC_BASE_URL") or "").strip().rstrip("/")
    if base:
        return base + path_and_query
    if (env.get("TRUST_PROXY") or "").strip().lower() in _TRUE:
        scheme = _first(request.headers.get("x-forwarded-proto")) or request.url.scheme
        host = _first(request.headers.get("x-forwarded-host")) or request.headers.get("host")
        if host:
            return f"{scheme.lower()}://{host}{path_and_query}"
    return str(request.url)


async def _verified(request: Request) -> ImmutableMultiDict | None:
    """The form parameters when the signature is valid, else None (and a log line)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    params = ImmutableMultiDict(parse_qsl(body, keep_blank_values=True))
    url = public_url(request)
    signature = request.headers.get(SIGNATURE_HEADER)
    token = auth_token()
    if not token:
        problem = "TWILIO_AUTH_TOKEN is not set"
    elif not signature:
        problem = "missing signature"
    elif not RequestValidator(token).validate(url, params, signature):
        problem = "bad signature"
    else:
        return params
    log.warning(
        "rejected twilio callback %s: %s (checked against %s, MessageSid %s)",
        request.url.path,
        problem,
        url,
        params.get("MessageSid") or params.get("SmsSid") or "-",
    )
    return None


def _forbidden() -> JSONResponse:
    return JSONResponse({"message": "invalid signature"}, status_code=403)


def _twiml(reply: str | None) -> Response:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), media_type="text/xml")


async def status(request: Request) -> Response:
    params = await _verified(request)
    if params is None:
        return _forbidden()
    outcome = await inbound.apply_status(params, request.path_params.get("shop"))
    return JSONResponse({"message": outcome.detail})


async def incoming(request: Request) -> Response:
    params = await _verified(request)
    if params is None:
        return _forbidden()
    outcome = await inbound.receive_inbound(params, request.path_params.get("shop"))
    if outcome is None:
        return JSONResponse({"message": "unknown shop"}, status_code=404)
    # A failure is stored (FAILED, retried by the sweep) and logged by the service: Twilio
    # never resends an inbound message, so it gets a 200 with empty TwiML all the same.
    return _twiml(outcome.reply)


def twilio_routes() -> list[Route]:
    return [
        Route("/webhooks/twilio/status", status, methods=["POST"]),
        Route("/webhooks/twilio/inbound", incoming, methods=["POST"]),
        Route("/webhooks/twilio/{shop}/status", status, methods=["POST"]),
        Route("/webhooks/twilio/{shop}/inbound", incoming, methods=["POST"]),
    ]
