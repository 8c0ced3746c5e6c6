"""What the Firestore contract means by a message's text: how long it is, and whether it says anything.

One definition, held in three places that must agree (tests/support/text_cases.py checks them on
the same texts): `firestore.rules` (`size()` and `matches()`), the app (`mobile_app/messages.py`,
which refuses first, above the text box) and the function (`handler.validate`).

  * Length is counted in UTF-16 code units, because that is what the rules' `string.size()` counts
    (and JavaScript's `length`): a letter of any alphabet or CJK is 1, an emoji or another
    character outside the Basic Multilingual Plane is 2, a ZWJ sequence is the sum of its parts.
  * A text is readable when it holds at least one character that is not whitespace, a control or
    format character (NUL, U+200B, U+200D, U+FEFF, bidi marks), a combining mark on its own, or a
    letter that renders blank (Hangul fillers, the braille blank). Anything else is TEXT_EMPTY.
"""

from __future__ import annotations

import unicodedata

MAX_TEXT_UNITS = 2000
"""firestore.rules: `text.size() <= 2000` (UTF-16 code units)."""
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me"})
"""firestore.rules' pattern: \\p{Z} \\p{Cc} \\p{Cf} \\p{Mn} \\p{Me}."""
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Hangul choseong / jungseong / compatibility / halfwidth fillers and the braille blank."""


def utf16_length(text: str) -> int:
    """The length the rules see: UTF-16 code units."""
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def is_readable(text: str) -> bool:
    """True when `text` holds something a person can read (see the module docstring)."""
    return any(ch not in BLANK_LETTERS and unicodedata.category(ch) not in INVISIBLE_CATEGORIES
               for ch in text)
