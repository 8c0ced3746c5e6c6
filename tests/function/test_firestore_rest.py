"""RestRepository outside the emulator: its value codec (what Firestore's REST API sends decodes as
the client library's types), ids the emulator would mangle in a URL, and the cloud's auth and
retries. The contract itself runs on the emulator: test_entry_point.py, test_hostile_input.py."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from chat_emotion.firestore_rest import (
    DocumentReference,
    FirestoreRestError,
    GeoPoint,
    RestRepository,
    decode_value,
    encode_value,
)
from google.auth.credentials import Credentials

from tests.app.scripted_server import Reply, ScriptedServer, Seen, rpc_error


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


@pytest.mark.emulator
@pytest.mark.parametrize("uid", [" ", "a ", "\u3000", "\u00a0b"])
def test_an_id_with_whitespace_names_its_own_document(firestore: object, monkeypatch: pytest.MonkeyPatch,
                                                      uid: str) -> None:
    # The emulator strips whitespace off a URL's path segments: read by URL, "users/a /..." was
    # "users/a/..." and "users/ /..." no document at all. Names travel in request bodies instead.
    from google.cloud import firestore as gcf

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore.host)
    client = gcf.Client(project="demo-emotion")
    client.document("users/a/messages/m").set({"text": "someone else's", "model": "default"})
    client.document(f"users/{uid}/messages/m").set({"text": "mine", "model": "default"})
    repo = RestRepository("demo-emotion")
    claim = repo.claim(f"users/{uid}/messages/m", lease_s=60)
    assert claim.kind == "claimed" and claim.data == {"text": "mine", "model": "default"}
    assert repo.complete(f"users/{uid}/messages/m", {"label": "joy"})
    assert client.document(f"users/{uid}/messages/m").get().get("emotion") == {"label": "joy"}
    assert "status" not in client.document("users/a/messages/m").get().to_dict()


# --- outside the emulator: Google's endpoint stood in for by a scripted local server -----------
# The emulator takes `Bearer owner` and never expires a token, so the cloud's own auth and
# transient answers can only be shown against a stand-in (tests/app/scripted_server.py).

class _Tokens(Credentials):
    """Credentials whose refresh hands out t1, t2, ... (the metadata server's part)."""

    def __init__(self) -> None:
        super().__init__()
        self.refreshes = 0

    def refresh(self, request: object) -> None:
        self.refreshes += 1
        self.token = f"t{self.refreshes}"
        self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)


def test_in_the_cloud_it_sends_the_service_accounts_token_and_retries_a_transient_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    gets = []

    def route(seen: Seen) -> Reply:
        if seen.path.endswith(":batchGet"):
            gets.append(seen)
            if len(gets) == 1:
                return rpc_error(503, "UNAVAILABLE")
            fields = {"text": {"stringValue": "hi"}, "model": {"stringValue": "m"}}
            return 200, [{"found": {"name": seen.json()["documents"][0], "fields": fields,
                                    "updateTime": "2026-12-06T10:00:00.123456789Z"},
                          "readTime": "2026-12-06T10:00:00.2Z"}]
        return 200, {"writeResults": [{"updateTime": "2026-12-06T10:00:01Z"}]}

    tokens = _Tokens()
    with ScriptedServer(route) as server:
        repo = RestRepository("p", credentials=tokens, origin=server.url)
        claim = repo.claim("users/u/messages/m", lease_s=60)
        assert claim.kind == "claimed" and claim.data == {"text": "hi", "model": "m"} and claim.attempt == 1
        assert repo.complete("users/u/messages/m", {"label": "joy"})
        seen = server.seen
    assert len(gets) == 2  # the 503 was read again
    assert gets[1].json() == {"documents": ["projects/p/databases/(default)/documents/users/u/messages/m"]}
    assert {s.headers["Authorization"] for s in seen} == {"Bearer t1"} and tokens.refreshes == 1
    commit = seen[2].json()["writes"][0]
    # the compare-and-set carries the update time exactly as read, nanoseconds included
    assert commit["currentDocument"] == {"updateTime": "2026-12-06T10:00:00.123456789Z"}
    assert seen[2].path == "/v1/projects/p/databases/(default)/documents:commit"


def test_a_refused_commit_is_an_error_not_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    with ScriptedServer(lambda seen: rpc_error(503, "UNAVAILABLE", "try later")) as server:
        repo = RestRepository("p", credentials=_Tokens(), origin=server.url)
        with pytest.raises(FirestoreRestError, match="UNAVAILABLE"):
            repo.complete("users/u/messages/m", {"label": "joy"})
        assert len(server.seen) == 1  # a commit that got an answer is never sent twice
