"""The contract's text in the function: the same boundary texts the app and the rules are held to,
and the function's definition equal to the app's over every code point."""

from __future__ import annotations

import sys

import pytest
from chat_emotion import text as contract
from chat_emotion.handler import Rejected, validate

from mobile_app import messages as app
from tests.support.text_cases import CASES, TextCase


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_function_refuses_exactly_what_the_rules_refuse(case: TextCase) -> None:
    assert contract.utf16_length(case.text) == case.units
    if case.ok:
        assert validate({"text": case.text, "model": "default"}) == (case.text, "default")
        return
    with pytest.raises(Rejected) as refused:
        validate({"text": case.text, "model": "default"})
    assert refused.value.code == case.refusal
    if case.refusal == "TEXT_TOO_LONG":
        assert f"{case.units} characters" in str(refused.value)


def test_the_app_and_the_function_agree_on_every_code_point() -> None:
    """Two copies of one definition (the app ships without the function's package): they may not drift."""
    assert app.MAX_TEXT_UNITS == contract.MAX_TEXT_UNITS
    differ = [cp for cp in range(sys.maxunicode + 1)
              if app.is_readable(chr(cp)) != contract.is_readable(chr(cp))
              or app.utf16_length(chr(cp)) != contract.utf16_length(chr(cp))]
    assert differ == []
    # ... and the definition says something: both kinds exist.
    assert contract.is_readable("a") and not contract.is_readable("\u200b\u00a0\x00")
