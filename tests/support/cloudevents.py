"""Real Firestore CloudEvents, as Eventarc delivers them: binary mode, protobuf body, ce- headers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from google.events.cloud.firestore import ArrayValue, Document, DocumentEventData, MapValue, Value
from google.protobuf import timestamp_pb2

CREATED = "google.cloud.firestore.document.v1.created"


def to_value(obj: Any) -> Value:
    """A Python value as a Firestore `Value` protobuf."""
    if obj is None:
        return Value(null_value=0)
    if isinstance(obj, bool):
        return Value(boolean_value=obj)
    if isinstance(obj, int):
        return Value(integer_value=obj)
    if isinstance(obj, float):
        return Value(double_value=obj)
    if isinstance(obj, str):
        return Value(string_value=obj)
    if isinstance(obj, dt.datetime):
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(obj)
        return Value(timestamp_value=ts)
    if isinstance(obj, dict):
        return Value(map_value=MapValue(fields={k: to_value(v) for k, v in obj.items()}))
    if isinstance(obj, list):
        return Value(array_value=ArrayValue(values=[to_value(v) for v in obj]))
    raise TypeError(f"no Firestore value for {type(obj).__name__}")


def created_event(document: str, fields: dict[str, Any] | None, *, project: str = "demo-emotion",
                  event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a `document.v1.created` event for `document` holding `fields`."""
    now = dt.datetime.now(dt.UTC)
    data = DocumentEventData()
    if fields is not None:
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(now)
        data = DocumentEventData(value=Document(
            name=f"projects/{project}/databases/(default)/documents/{document}",
            fields={k: to_value(v) for k, v in fields.items()}, create_time=ts, update_time=ts))
    headers = {
        "Content-Type": "application/protobuf",
        "ce-specversion": "1.0",
        "ce-id": event_id or str(uuid.uuid4()),
        "ce-type": CREATED,
        "ce-source": f"//firestore.googleapis.com/projects/{project}/databases/(default)",
        "ce-subject": f"documents/{document}",
        "ce-time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "ce-location": "us-central1",
        "ce-project": project,
        "ce-database": "(default)",
        "ce-namespace": "(default)",
        "ce-document": document,
    }
    return headers, DocumentEventData.serialize(data)
