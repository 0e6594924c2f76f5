"""Webhook signature checks: is this body really from the shop we share a secret with?

Each check takes the raw body bytes exactly as received (re-serialised JSON would not
match), compares in constant time, and returns False rather than raising on a missing
or malformed header, so the caller can reject and record the delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from loyalty import clock

SHOPIFY_HEADER = "X-Shopify-Hmac-Sha256"
WOOCOMMERCE_HEADER = "X-WC-Webhook-Signature"
RECHARGE_HEADER = "X-Recharge-Webhook-Signature"
RECHARGE_LEGACY_HEADER = "X-Recharge-Hmac-Sha256"

# Recharge asks receivers to refuse timestamp-bound deliveries signed more than 48 h away.
RECHARGE_TOLERANCE = timedelta(hours=48)


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _matches(expected: bytes, given: str | bytes | None) -> bool:
    """Constant-time equality that treats any unusable header value as a mismatch."""
    if isinstance(given, str):
        try:
            given = given.strip().encode("ascii")
        except UnicodeEncodeError:
            return False
    if not isinstance(given, bytes) or not given:
        return False
    return hmac.compare_digest(expected, given.strip())


def _hmac_base64(secret: str | bytes, body: bytes) -> bytes:
    return base64.b64encode(hmac.digest(_key(secret), body, hashlib.sha256))


def verify_shopify(body: bytes, header: str | bytes | None, secret: str | bytes) -> bool:
    """`X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app client secret, body))."""
    return _matches(_hmac_base64(secret, body), header)


def verify_woocommerce(body: bytes, header: str | bytes | None, secret: str | bytes) -> bool:
    """`X-WC-Webhook-Signature` = base64(HMAC-SHA256(webhook secret, body)).

    WooCommerce's creation ping (form body `webhook_id=…`) is unsigned and fails here;
    the web layer answers it 200 without processing.
    """
    return _matches(_hmac_base64(secret, body), header)


def verify_recharge(
    body: bytes,
    secret: str | bytes,
    *,
    signature: str | bytes | None = None,
    legacy_digest: str | bytes | None = None,
    allow_legacy: bool = True,
    now: datetime | None = None,
) -> bool:
    """Check a Recharge delivery with the API client secret.

    Current scheme (`X-Recharge-Webhook-Signature: t=<epoch>,v1=<hex>`): hex
    HMAC-SHA256 over `b"<t>." + body`, refused when `t` is over 48 h from now, which
    stops replays. When that header is present it alone decides; otherwise, if
    `allow_legacy`, the legacy `X-Recharge-Hmac-Sha256` = hex(SHA256(secret ‖ body)),
    a plain hash that Recharge still sends but that cannot detect replays. Turn
    `allow_legacy` off for a shop once its deliveries carry the new header.
    """
    if signature:
        return _verify_recharge_timestamped(body, secret, signature, now or clock.now())
    if allow_legacy:
        expected = hashlib.sha256(_key(secret) + body).hexdigest().encode()
        if isinstance(legacy_digest, str):
            legacy_digest = legacy_digest.strip().lower()
        return _matches(expected, legacy_digest)
    return False


def _verify_recharge_timestamped(
    body: bytes, secret: str | bytes, signature: str | bytes, now: datetime
) -> bool:
    if isinstance(signature, bytes):
        signature = signature.decode("ascii", "replace")
    pairs = [part.strip().partition("=") for part in signature.split(",")]
    stamps = [value for key, _, value in pairs if key == "t"]
    candidates = [value.lower() for key, _, value in pairs if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit():
        return False
    sent_at = int(stamps[0])
    if abs(now.timestamp() - sent_at) > RECHARGE_TOLERANCE.total_seconds():
        return False
    message = stamps[0].encode() + b"." + body
    expected = hmac.new(_key(secret), message, hashlib.sha256).hexdigest().encode()
    # Parsed by key as Recharge advises (a v2 may follow); any v1 given may match.
    return any([_matches(expected, candidate) for candidate in candidates])
