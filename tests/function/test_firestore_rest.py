"""RestRepository's value codec: what Firestore's REST API sends decodes as the client library's
types (the contract itself runs on the emulator: test_entry_point.py, test_hostile_input.py)."""

from __future__ import annotations

import datetime as dt
import math

from chat_emotion.firestore_rest import DocumentReference, GeoPoint, decode_value, encode_value


def test_every_rest_value_decodes_to_the_client_librarys_python_type() -> None:
    assert decode_value({"timestampValue": "2026-12-06T19:27:23.123456789Z"}) == dt.datetime(
        2026, 12, 6, 19, 27, 23, 123456, tzinfo=dt.UTC)
    assert decode_value({"timestampValue": "2026-12-06T19:27:23Z"}).microsecond == 0
    assert decode_value({"integerValue": "-9007199254740993"}) == -9007199254740993
    assert math.isnan(decode_value({"doubleValue": "NaN"}))
    assert decode_value({"doubleValue": "-Infinity"}) == -math.inf
    assert decode_value({"bytesValue": "aGk="}) == b"hi"  # bytes, not the base64 text
    ref = decode_value({"referenceValue": "projects/p/databases/(default)/documents/a/b"})
    assert isinstance(ref, DocumentReference) and not isinstance(ref, str)
    assert decode_value({"geoPointValue": {"latitude": 1.5}}) == GeoPoint(1.5, 0.0)
    assert decode_value({"mapValue": {}}) == {} and decode_value({"arrayValue": {}}) == []
    assert decode_value({"nullValue": None}) is None and decode_value({"booleanValue": False}) is False


def test_what_the_function_writes_round_trips() -> None:
    emotion = {"label": "joy", "score": 0.97, "scores": {"joy": 0.97, "fear": 0.0}, "labels": ["joy"],
               "latencyMs": 1, "ok": True, "none": None,
               "retryAt": dt.datetime(2026, 12, 6, 0, 1, 2, 345678, tzinfo=dt.UTC)}
    assert decode_value(encode_value(emotion)) == emotion
    assert [encode_value(v) for v in (math.inf, -math.inf)] == [{"doubleValue": "Infinity"},
                                                                {"doubleValue": "-Infinity"}]
    assert math.isnan(decode_value(encode_value(math.nan)))
