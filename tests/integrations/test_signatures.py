"""Signature checks against the values in ../shared/fixtures/SOURCES.md over the stored bytes."""

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from loyalty import clock
from loyalty.integrations.signatures import (
    verify_recharge,
    verify_shopify,
    verify_woocommerce,
)

SECRET = "test-webhook-secret"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

SHOPIFY_SIGNED = {
    "shopify_order_webhook_body.json": "N820PrPm5S7AEBAveJXE5YZFnwd7WSpLRe+5pEkL6iw=",
    "shopify_refund_webhook_body.json": "3pGeIcLQ+lnjVH/kwT17tKuqE/m1w9E2nS+NTOnERDY=",
    "shopify_order_modern.json": "HJqzsXJmrWbjj0XgQmLmkx/6FpQxyokfH67DKOAOjPM=",
}
WOOCOMMERCE_SIGNED = "cjMKAZWk/36Ge5QPbmyJrTHjJ2cenkpqI+zP1MqnYy0="
RECHARGE_LEGACY = "04c3c0959cac1a62b9de731a5f9749f88dae0a26b87300ddb53e463b0e433284"


def tampered(body: bytes) -> bytes:
    return body.replace(b"450789469", b"450789468", 1).replace(b'"id": 727', b'"id": 728', 1)


def test_shopify_third_party_vector() -> None:
    body = b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}'
    good = "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw="
    assert verify_shopify(body, good, SECRET)
    assert verify_shopify(body, good.encode(), SECRET.encode())
    assert not verify_shopify(body + b" ", good, SECRET)
    assert not verify_shopify(body, good, "another-secret")


@pytest.mark.parametrize(("name", "header"), SHOPIFY_SIGNED.items())
def test_shopify_fixtures(raw: Callable[[str], bytes], name: str, header: str) -> None:
    body = raw(name)
    assert verify_shopify(body, header, SECRET)
    assert verify_shopify(body, f" {header} ", SECRET)
    assert not verify_shopify(tampered(body), header, SECRET)


def test_woocommerce_fixture(raw: Callable[[str], bytes]) -> None:
    body = raw("woocommerce_order.json")
    assert verify_woocommerce(body, WOOCOMMERCE_SIGNED, SECRET)
    assert not verify_woocommerce(tampered(body), WOOCOMMERCE_SIGNED, SECRET)
    assert not verify_woocommerce(b"webhook_id=12", WOOCOMMERCE_SIGNED, SECRET)  # unsigned ping


@pytest.mark.parametrize("header", [None, "", "   ", "not base64!!", "é", b"\xff", "QNyO"])
def test_missing_or_malformed_headers_fail_quietly(header: object) -> None:
    body = b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}'
    assert verify_shopify(body, header, SECRET) is False  # type: ignore[arg-type]
    assert verify_woocommerce(body, header, SECRET) is False  # type: ignore[arg-type]
    assert verify_recharge(body, SECRET, signature=header, legacy_digest=header, now=NOW) is False  # type: ignore[arg-type]


def test_recharge_legacy_digest(raw: Callable[[str], bytes]) -> None:
    body = raw("recharge_subscription.json")
    assert verify_recharge(body, SECRET, legacy_digest=RECHARGE_LEGACY)
    assert verify_recharge(body, SECRET, legacy_digest=RECHARGE_LEGACY.upper())
    assert not verify_recharge(
        body.replace(b"49.00", b"4.90"), SECRET, legacy_digest=RECHARGE_LEGACY
    )
    assert not verify_recharge(body, "wrong", legacy_digest=RECHARGE_LEGACY)
    assert not verify_recharge(body, SECRET, legacy_digest=RECHARGE_LEGACY, allow_legacy=False)
    assert not verify_recharge(body, SECRET)


def timestamped(body: bytes, sent_at: datetime, secret: str = SECRET) -> str:
    """The documented construction: hex HMAC-SHA256(secret, "<t>." + body)."""
    t = str(int(sent_at.timestamp()))
    digest = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def test_recharge_timestamped_signature(raw: Callable[[str], bytes]) -> None:
    body = raw("recharge_subscription.json")
    header = timestamped(body, NOW - timedelta(minutes=5))
    assert verify_recharge(body, SECRET, signature=header, now=NOW)
    assert verify_recharge(body, SECRET, signature=header.encode(), now=NOW)
    assert verify_recharge(body, SECRET, signature=header.replace(",", " , ") + ",v2=abc", now=NOW)
    assert not verify_recharge(body + b"\n", SECRET, signature=header, now=NOW)
    assert not verify_recharge(body, "wrong", signature=header, now=NOW)


def test_recharge_timestamped_signature_refuses_replays(raw: Callable[[str], bytes]) -> None:
    body = raw("recharge_subscription.json")
    edge = NOW - timedelta(hours=48)
    assert verify_recharge(body, SECRET, signature=timestamped(body, edge), now=NOW)
    for sent_at in (edge - timedelta(seconds=1), NOW + timedelta(hours=48, seconds=1)):
        assert not verify_recharge(body, SECRET, signature=timestamped(body, sent_at), now=NOW)


def test_recharge_signature_header_decides_without_legacy_fallback(
    raw: Callable[[str], bytes],
) -> None:
    body = raw("recharge_subscription.json")
    stale = timestamped(body, NOW - timedelta(days=3))
    assert not verify_recharge(
        body, SECRET, signature=stale, legacy_digest=RECHARGE_LEGACY, now=NOW
    )


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=abc,v1=00",
        "v1=00",
        "t=1,t=2,v1=00",
        "t=,v1=",
        "t=１２,v1=00",
        "t=99999999999999999999,v1=00",
    ],
)
def test_recharge_malformed_signature_headers(header: str) -> None:
    assert verify_recharge(b"{}", SECRET, signature=header, now=NOW) is False


def test_recharge_uses_the_project_clock(raw: Callable[[str], bytes]) -> None:
    body = raw("recharge_subscription.json")
    header = timestamped(body, NOW)
    clock.set_now(NOW + timedelta(hours=1))
    try:
        assert verify_recharge(body, SECRET, signature=header)
        clock.set_now(NOW + timedelta(days=3))
        assert not verify_recharge(body, SECRET, signature=header)
    finally:
        clock.set_now(None)
