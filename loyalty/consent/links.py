"""Signed links for email consent: double opt-in confirmation and one-click unsubscribe.

Tokens are itsdangerous URL-safe timed signatures keyed by `Settings.secret_key`, one
salt per action so a token for one action never passes as another. A confirmation
token expires after CONFIRMATION_MAX_AGE and names the pending request it answers
(its nonce), so a later change of mind makes older links void. Unsubscribe tokens never
expire: a link in an old email must still work (RFC 8058 one-click).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from loyalty import clock
from loyalty.consent.models import Channel, Purpose
from loyalty.errors import DomainError

CONFIRMATION_MAX_AGE = timedelta(days=7)
CONFIRM_PATH = "/consent/confirm"
UNSUBSCRIBE_PATH = "/unsubscribe"
_CONFIRM = "confirm"
_UNSUBSCRIBE = "unsubscribe"


class LinkError(DomainError):
    """A token that is malformed, tampered with, expired, superseded or for another action."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, "token")


@dataclass(frozen=True)
class LinkClaims:
    action: str
    shop_id: int
    customer_id: int
    channel: Channel
    purpose: Purpose
    nonce: str | None = None


class _ClockSigner(TimestampSigner):
    """Timestamps from `loyalty.clock`, so tests move time instead of sleeping."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(secret_key: str, action: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=f"loyalty.consent.{action}", signer=_ClockSigner)


def _dump(secret_key: str, claims: LinkClaims) -> str:
    payload = {
        "a": claims.action,
        "s": claims.shop_id,
        "c": claims.customer_id,
        "ch": claims.channel.value,
        "p": claims.purpose.value,
    }
    if claims.nonce is not None:
        payload["n"] = claims.nonce
    return _serializer(secret_key, claims.action).dumps(payload)


def _load(secret_key: str, action: str, token: str, max_age: timedelta | None) -> LinkClaims:
    serializer = _serializer(secret_key, action)
    try:
        if max_age is None:
            payload = serializer.loads(token)
        else:
            payload = serializer.loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        raise LinkError("EXPIRED", "This link has expired.") from exc
    except BadSignature as exc:
        raise LinkError("INVALID", "This link is not valid.") from exc
    try:
        if payload["a"] != action:
            raise ValueError(payload["a"])
        return LinkClaims(
            action=action,
            shop_id=int(payload["s"]),
            customer_id=int(payload["c"]),
            channel=Channel(payload["ch"]),
            purpose=Purpose(payload["p"]),
            nonce=payload.get("n"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LinkError("INVALID", "This link is not valid.") from exc


def confirmation_token(
    secret_key: str,
    *,
    shop_id: int,
    customer_id: int,
    channel: Channel,
    purpose: Purpose,
    nonce: str,
) -> str:
    """A token for the double opt-in link of one pending request (valid 7 days from now)."""
    return _dump(
        secret_key, LinkClaims(_CONFIRM, shop_id, customer_id, channel, purpose, nonce=nonce)
    )


def read_confirmation(secret_key: str, token: str) -> LinkClaims:
    claims = _load(secret_key, _CONFIRM, token, CONFIRMATION_MAX_AGE)
    if not claims.nonce:
        raise LinkError("INVALID", "This link is not valid.")
    return claims


def unsubscribe_token(
    secret_key: str, *, shop_id: int, customer_id: int, channel: Channel, purpose: Purpose
) -> str:
    """A token for an unsubscribe link; it does not expire."""
    return _dump(secret_key, LinkClaims(_UNSUBSCRIBE, shop_id, customer_id, channel, purpose))


def read_unsubscribe(secret_key: str, token: str) -> LinkClaims:
    return _load(secret_key, _UNSUBSCRIBE, token, None)


def confirmation_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{CONFIRM_PATH}?{urlencode({'token': token})}"


def unsubscribe_url(base_url: str, token: str) -> str:
    """For the email body and the `List-Unsubscribe` header (with `List-Unsubscribe-Post`)."""
    return f"{base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?{urlencode({'token': token})}"
