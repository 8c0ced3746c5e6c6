"""A Firestore `document.v1.created` CloudEvent read straight into a MessageEvent, without the SDK.

firebase_functions' wrapper turns each event into an `Event[DocumentSnapshot]`: importing it
pulls google.cloud.firestore_v1, gRPC, firebase_admin and google.events' proto-plus types, and
every event builds a firebase_admin app check, a Firestore client and a decoded snapshot. The
handler uses none of that: it needs the event's id, project, database and document path (all
CloudEvent attributes) and, as a prefetch hint only, the new document's `model` string. So the
serving instance (functions/main.py, `FUNCTION_TARGET=classify_message`) reads those here, and
the declaration firebase-tools discovers stays the SDK's. tests/function/test_cloudevent.py holds
the two readings equal on real protobuf and JSON events.

The hint is read from the protobuf body with the wire format's four rules (DocumentEventData.value
= 1 -> Document.fields = 2 -> map entry key = 1, value = 2 -> Value.string_value = 17). It is a
hint: the claim re-reads the message, and anything unexpected here yields None, never an error.
"""

from __future__ import annotations

from typing import Any

from chat_emotion import protowire
from chat_emotion.handler import MessageEvent

_HINT_FIELD = "model"


def message_event(raw: Any) -> MessageEvent:
    """The MessageEvent of a functions-framework `cloudevents.http.CloudEvent`."""
    return MessageEvent(document=raw["document"], event_id=raw["id"], project=raw["project"],
                        database=raw.get("database") or "(default)", model_hint=model_hint(raw.get_data()))


def model_hint(data: Any) -> str | None:
    """The new document's `model` string from the event's protobuf data, else None (Eventarc and
    both emulators deliver protobuf; any other body only loses the prefetch, never the message)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        return None
    try:
        return _protobuf_hint(bytes(data))
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def _protobuf_hint(body: bytes) -> str | None:
    document = _last(body, 1)  # DocumentEventData.value
    if document is None:
        return None
    for entry in _fields(document, 2):  # Document.fields: map<string, Value> entries
        key = _last(entry, 1)
        if key is not None and key.decode() == _HINT_FIELD:
            value = _last(entry, 2)
            text = _last(value, 17) if value is not None else None  # Value.string_value
            return text.decode() if text is not None else None
    return None


def _last(message: bytes, number: int) -> bytes | None:
    """A length-delimited field's bytes (the last occurrence wins, as protobuf parsers do)."""
    found = None
    for value in _fields(message, number):
        found = value
    return found


def _fields(message: bytes, number: int) -> list[bytes]:
    """Every length-delimited occurrence of field `number` in `message`; other fields skipped."""
    return [value for found, wire, value in protowire.fields(message) if found == number and wire == 2]
