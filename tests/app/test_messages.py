import pytest

from mobile_app.messages import (
    MAX_TEXT_UNITS,
    InvalidInput,
    Message,
    State,
    new_message_id,
    utf16_length,
    validate_text,
)
from tests.support.text_cases import CASES, TextCase


def test_text_validation_keeps_bad_input_on_the_device():
    with pytest.raises(InvalidInput, match="Type a message"):
        validate_text("   \n ")
    with pytest.raises(InvalidInput, match=f"{MAX_TEXT_UNITS + 1} characters; the limit is {MAX_TEXT_UNITS}"):
        validate_text("x" * (MAX_TEXT_UNITS + 1))
    assert validate_text("  ok  ") == "ok"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_app_refuses_exactly_what_the_rules_refuse(case: TextCase) -> None:
    """The same texts firestore.rules is held to (tests/function/test_rules.py): what the app lets
    through is accepted, what it refuses the rules would refuse, with the reason shown."""
    assert utf16_length(case.text) == case.units
    if case.ok:
        assert validate_text(case.text) == case.text
        return
    empty = "Type a message first|only invisible characters"
    reason = empty if case.refusal == "TEXT_EMPTY" else f"{case.units} characters"
    with pytest.raises(InvalidInput, match=reason):
        validate_text(case.text)


def test_ids_are_chosen_on_the_device_and_unique():
    ids = {new_message_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 20 and i.isalnum() for i in ids)


def test_state_follows_the_server_document():
    msg = Message.compose("what a day", "bert")
    assert msg.state is State.QUEUED and not msg.state.on_server
    msg.delivered("2026-11-25T10:00:00Z")
    assert msg.state is State.SENT and msg.created_at == "2026-11-25T10:00:00Z"
    assert msg.apply_server({"text": "what a day"}) is False  # still no status: nothing to show
    assert msg.apply_server({"status": {"state": "PROCESSING"}}) is True
    assert msg.state is State.PROCESSING and not msg.state.final
    changed = msg.apply_server({"status": {"state": "COMPLETED"}, "emotion": {
        "label": "joy", "score": 0.91, "scores": {"joy": 0.91, "sadness": 0.09}, "model": "bert",
        "modelVersion": "3", "latencyMs": 4}})
    assert changed and msg.state is State.COMPLETED and msg.state.final
    assert (msg.emotion.label, msg.emotion.score, msg.emotion.model_version) == ("joy", 0.91, "3")


def test_server_error_is_kept_with_its_message():
    msg = Message.compose("hello", "nonexistent")
    msg.delivered()
    msg.apply_server({"status": {"state": "ERROR", "error": {"code": "UNKNOWN_MODEL",
                                                             "message": "No model named nonexistent."}}})
    assert msg.state is State.ERROR
    assert (msg.error_code, msg.error_message) == ("UNKNOWN_MODEL", "No model named nonexistent.")
    # An ERROR with no detail still says something.
    other = Message.compose("x", "default")
    other.apply_server({"status": {"state": "ERROR"}})
    assert other.error_message and other.error_code == "UNKNOWN"


def test_multi_label_result():
    msg = Message.compose("thanks, that was funny", "default")
    msg.apply_server({"status": {"state": "COMPLETED"},
                      "emotion": {"labels": ["gratitude", "amusement"], "score": 0.8}})
    assert msg.emotion.label == "gratitude" and msg.emotion.labels == ["gratitude", "amusement"]


def test_only_a_refused_write_is_requeued():
    msg = Message.compose("hi", "default")
    msg.rejected("PERMISSION_DENIED", "refused")
    assert msg.state is State.REJECTED and msg.state.final and not msg.state.on_server
    msg.requeue()
    assert msg.state is State.QUEUED and msg.error_message is None
    msg.delivered()
    with pytest.raises(ValueError):
        msg.requeue()


def test_json_round_trip():
    msg = Message.compose("round trip", "roberta")
    msg.apply_server({"status": {"state": "COMPLETED"}, "emotion": {"label": "love", "score": 0.5}})
    again = Message.from_json(msg.to_json())
    assert again == msg
