"""What a person reads under each bubble, state by state."""

from mobile_app.messages import Message
from mobile_app.presentation import EMOTION_COLOURS, GREY, describe, emotion_colour


def message(state_fields: dict | None = None, model: str = "default") -> Message:
    msg = Message.compose("a day", model)
    msg.created_local = 0.0
    if state_fields is not None:
        msg.apply_server(state_fields)
    return msg


def test_pending_states_say_where_the_message_is():
    queued = message()
    assert describe(queued).status.endswith("· sending…")
    queued.last_attempt_error = "No connection to the server; will retry."
    assert describe(queued).status.endswith("· not sent yet: No connection to the server; will retry")
    assert describe(message({})).status.endswith("· sent · waiting for the classifier")
    processing = describe(message({"status": {"state": "PROCESSING"}}))
    assert processing.status.endswith("· classifying…") and processing.chip == "" and not processing.can_retry


def test_result_chip_has_label_confidence_colour_and_model():
    view = describe(message({"status": {"state": "COMPLETED"},
                             "emotion": {"label": "joy", "score": 0.934, "model": "bert"}}))
    assert view.chip == "joy  93%  ·  bert"
    assert view.chip_colour == EMOTION_COLOURS["joy"] and view.error == "" and not view.can_retry
    # "default" names no model: the chip names the one that answered, or none.
    plain = describe(message({"status": {"state": "COMPLETED"}, "emotion": {"label": "fear", "score": 0.5}}))
    assert plain.chip == "fear  50%"
    multi = describe(message({"status": {"state": "COMPLETED"},
                              "emotion": {"labels": ["gratitude", "joy"], "score": 0.7}}))
    assert multi.chip.startswith("gratitude + joy  70%")
    many = describe(message({"status": {"state": "COMPLETED"},
                             "emotion": {"labels": ["joy", "love", "gratitude", "optimism", "pride"],
                                         "label": "joy", "score": 0.81}}))
    assert many.chip.startswith("joy + love + gratitude +2  81%")  # up to three named, the rest counted


def test_errors_are_shown_with_their_message_and_a_retry():
    failed = message({"status": {"state": "ERROR",
                                 "error": {"code": "TEXT_TOO_LONG", "message": "Too long."}}})
    view = describe(failed)
    assert (view.error, view.can_retry, view.chip_colour) == ("Too long. (TEXT_TOO_LONG)", True, GREY)
    assert view.status.endswith("· classifier error")
    failed.retried = True
    assert describe(failed).error.endswith("sent again below") and not describe(failed).can_retry
    refused = message()
    refused.rejected("PERMISSION_DENIED", "The server refused this message (permission denied).")
    view = describe(refused)
    assert view.can_retry and view.error.startswith("The server refused") and view.status.endswith("not sent")


def test_a_rate_limited_message_is_kept_with_when_to_send_it_again():
    sentence = ("you have sent more than 30 messages this minute; this one was not classified: "
                "send it again after 12:01:00 UTC")
    limited = message({"status": {"state": "ERROR", "error": {"code": "RATE_LIMITED", "message": sentence,
                                                               "retryAt": "2026-12-05T12:01:00Z"}}})
    view = describe(limited)
    assert view.status.endswith("· limit reached: kept here to send again")
    assert view.error == f"{sentence} (RATE_LIMITED)" and view.can_retry
    assert limited.text == "a day"  # nothing lost: Retry sends the same text anew


def test_unknown_labels_get_a_stable_colour():
    assert emotion_colour("curiosity") == emotion_colour("Curiosity") == emotion_colour("curiosity")
    assert emotion_colour("JOY") == EMOTION_COLOURS["joy"]
