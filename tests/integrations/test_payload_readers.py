from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty.integrations.money import currency_code, minor_units
from loyalty.integrations.payloads import PayloadError, load_json, timestamp


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("12.34", "GBP", 1234),
        ("0.00", "USD", 0),
        ("49.00", "dkk", 4900),
        ("1000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        ("-10.00", "EUR", -1000),
        (" 7.5 ", "GBP", 750),
        (12, "GBP", 1200),
        (Decimal("195.66"), "USD", 19566),
        (195.66, "USD", 19566),  # stdlib-parsed float: read via its repr, the JSON literal
        ("3.225", "GBP", 323),  # sub-penny: half away from zero, as WooCommerce rounds
        ("-3.225", "GBP", -323),
    ],
)
def test_minor_units(value: object, currency: str, expected: int) -> None:
    assert minor_units(value, currency, "amount") == expected


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity", "1e5", "1_000", "12,00", "١٢"])
def test_minor_units_refuses_non_decimal_text(value: str) -> None:
    with pytest.raises(PayloadError) as caught:
        minor_units(value, "GBP", "line_items[0].price")
    assert caught.value.field == "line_items[0].price"
    assert "line_items[0].price" in str(caught.value)


@pytest.mark.parametrize("value", [None, True, [], {}, Decimal("NaN")])
def test_minor_units_refuses_non_amounts(value: object) -> None:
    with pytest.raises(PayloadError, match="total_tax"):
        minor_units(value, "GBP", "total_tax")


def test_unknown_currency_is_refused_not_guessed() -> None:
    with pytest.raises(PayloadError) as caught:
        currency_code("XYZ")
    assert caught.value.field == "currency"
    with pytest.raises(PayloadError, match="currency"):
        minor_units("1.00", "ZZZ", "total")


def test_load_json_keeps_large_ids_exact_and_decimals_decimal() -> None:
    data = load_json(b'{"id": 820982911946154508, "subtotal": 195.66}')
    assert data["id"] == 820982911946154508
    assert str(data["id"]) == "820982911946154508"
    assert data["subtotal"] == Decimal("195.66")


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b"\xff\xfe", b""])
def test_load_json_refuses_non_objects(body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        load_json(body)
    assert caught.value.field == "body"


def test_timestamps_become_utc_and_naive_ones_are_refused() -> None:
    assert timestamp("2008-01-10T11:00:00-05:00", "created_at") == datetime(
        2008, 1, 10, 16, 0, tzinfo=UTC
    )
    assert timestamp("2017-03-22T19:28:02", "date_created_gmt", naive_is_utc=True) == datetime(
        2017, 3, 22, 19, 28, 2, tzinfo=UTC
    )
    with pytest.raises(PayloadError, match="created_at: timestamp has no UTC offset"):
        timestamp("2017-03-22T16:28:02", "created_at")
    with pytest.raises(PayloadError, match="created_at"):
        timestamp("yesterday", "created_at")
