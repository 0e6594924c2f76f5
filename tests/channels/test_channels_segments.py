"""SMS segment counting: GSM-7 vs UCS-2, single vs concatenated parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loyalty.channels.segments import GSM7_BASIC, GSM7_EXTENSION, SmsLength, sms_length


def test_alphabet_tables_are_complete() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes less the escape
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, SmsLength("GSM-7", 160, 160, 1)),
        ("a" * 161, SmsLength("GSM-7", 161, 161, 2)),
        ("a" * 306, SmsLength("GSM-7", 306, 306, 2)),
        ("a" * 307, SmsLength("GSM-7", 307, 307, 3)),
        ("£@ÄÖÑÜ§¿äöñüà\r\n", SmsLength("GSM-7", 15, 15, 1)),
        ("€" * 80, SmsLength("GSM-7", 80, 160, 1)),
        ("€" * 81, SmsLength("GSM-7", 81, 162, 2)),
        ("^" + "a" * 158, SmsLength("GSM-7", 159, 160, 1)),
        ("^" + "a" * 159, SmsLength("GSM-7", 160, 161, 2)),
        ("{}[]~|\\\f", SmsLength("GSM-7", 8, 16, 1)),
        ("", SmsLength("GSM-7", 0, 0, 1)),
    ],
)
def test_gsm7(text: str, expected: SmsLength) -> None:
    assert sms_length(text) == expected


def test_gsm7_parts_do_not_split_an_escape_pair() -> None:
    # 306 septets would fill two parts exactly, but the € cannot straddle them.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_length(text) == SmsLength("GSM-7", 305, 306, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ł" * 70, SmsLength("UCS-2", 70, 70, 1)),
        ("ł" * 71, SmsLength("UCS-2", 71, 71, 2)),
        ("ł" * 134, SmsLength("UCS-2", 134, 134, 2)),
        ("ł" * 135, SmsLength("UCS-2", 135, 135, 3)),
        # An emoji is two UTF-16 code units and turns the whole text into UCS-2.
        ("a" * 68 + "😀", SmsLength("UCS-2", 69, 70, 1)),
        ("a" * 69 + "😀", SmsLength("UCS-2", 70, 71, 2)),
        # Curly quotes are not GSM-7 either.
        ("It’s here", SmsLength("UCS-2", 9, 9, 1)),
    ],
)
def test_ucs2(text: str, expected: SmsLength) -> None:
    assert sms_length(text) == expected


def test_ucs2_parts_do_not_split_a_surrogate_pair() -> None:
    text = "a" * 66 + "😀" + "a" * 66  # 134 code units, but the emoji can't straddle
    assert sms_length(text) == SmsLength("UCS-2", 133, 134, 3)


def test_matches_twilio_for_its_sample_message(fixtures_dir: Path) -> None:
    created = json.loads((fixtures_dir / "twilio_message_create_response.json").read_text())
    length = sms_length(created["body"])
    assert (length.encoding, length.segments) == ("UCS-2", int(created["num_segments"]))
