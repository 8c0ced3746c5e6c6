"""Texts on both sides of the contract's limits, whose code points, UTF-16 units and UTF-8 bytes differ.

The app (tests/app/test_messages.py), the function (tests/function/test_text.py) and firestore.rules
in the emulator (tests/function/test_rules.py) must each accept exactly the texts marked `ok` and
refuse the others; the function says TEXT_EMPTY or TEXT_TOO_LONG as `refusal` names.
"""

from __future__ import annotations

from dataclasses import dataclass

LIMIT = 2000
FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # a ZWJ sequence: 3 emoji + 2 joiners = 8 units
E_ACUTE = "e\u0301"  # e + combining acute: 2 code points, 2 units


@dataclass(frozen=True)
class TextCase:
    id: str
    text: str
    refusal: str | None  # None: accepted; else the function's error code
    units: int  # UTF-16 code units, stated independently of the code under test

    @property
    def ok(self) -> bool:
        return self.refusal is None


def _cases() -> list[TextCase]:
    out: list[TextCase] = []

    def pair(name: str, fill: str, fill_units: int, n: int) -> None:
        """`n` copies of `fill` reach exactly the limit; one ASCII letter more is over it."""
        assert fill_units * n == LIMIT
        out.append(TextCase(f"{name}-at-limit", fill * n, None, LIMIT))
        out.append(TextCase(f"{name}-over-limit", fill * n + "a", "TEXT_TOO_LONG", LIMIT + 1))

    pair("ascii", "a", 1, 2000)
    pair("cyrillic", "\u044f", 1, 2000)           # 2 UTF-8 bytes each
    pair("cjk", "\u6f22", 1, 2000)                # 3 UTF-8 bytes each
    pair("emoji", "\U0001F600", 2, 1000)          # 1 code point, 2 units, 4 bytes
    pair("zwj-family", FAMILY, 8, 250)
    pair("combining", E_ACUTE, 2, 1000)
    # 2,000 code points, as len() counts, but 2,001 units: the case the rules refused and the app let by.
    out.append(TextCase("ascii-and-emoji-2000-code-points", "a" * 1999 + "\U0001F600", "TEXT_TOO_LONG", 2001))
    out.append(TextCase("ascii-and-emoji-at-limit", "a" * 1998 + "\U0001F600", None, 2000))
    for name, blank in [
        ("zero-width-space", "\u200b"), ("bom", "\ufeff"), ("zwj", "\u200d"), ("nul", "\x00"),
        ("nbsp", "\u00a0"), ("ideographic-space", "\u3000"), ("lone-combining-mark", "\u0301"),
        ("variation-selector", "\ufe0f"), ("hangul-filler", "\u3164"), ("braille-blank", "\u2800"),
        ("bidi-marks", "\u200e\u200f"), ("line-separator", "\u2028"),
    ]:
        out.append(TextCase(f"only-{name}", blank * 3, "TEXT_EMPTY", 3 * len(blank)))
    out.append(TextCase("word-after-zero-width-space", "\u200bhi", None, 3))
    out.append(TextCase("single-emoji", "\U0001F600", None, 2))
    out.append(TextCase("single-cjk", "\u6f22", None, 1))
    return out


CASES = _cases()
