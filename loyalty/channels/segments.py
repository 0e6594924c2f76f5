"""How many SMS segments a text costs.

Carriers bill per segment, so the editor shows the count before a campaign
goes out. A text that fits the GSM 03.38 alphabet is sent in GSM-7 (160
septets alone, 153 per part once split, the rest going to the concatenation
header); one character outside it switches the whole text to UCS-2 (70 UTF-16
code units alone, 67 per part). Characters from the GSM extension table take
two septets (an escape plus the character), and a part never splits an escape
pair or a UTF-16 surrogate pair, which is how Twilio counts too. Twilio's
optional "smart encoding" (replacing curly quotes and the like) is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 default alphabet in code order, without 0x1B (the escape).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters reached through the escape: each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True, slots=True)
class SmsLength:
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def sms_length(text: str) -> SmsLength:
    """Encoding, character count, encoded length and segment count of `text`."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
        costs = [2 if c in GSM7_EXTENSION else 1 for c in text]
    else:
        encoding = "UCS-2"
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    single, per_part = _LIMITS[encoding]
    units = sum(costs)
    return SmsLength(encoding, len(text), units, _segments(costs, units, single, per_part))


def _segments(costs: list[int], units: int, single: int, per_part: int) -> int:
    if units <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            segments, used = segments + 1, 0
        used += cost
    return segments
