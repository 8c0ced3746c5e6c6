"""The app's REST client and outbox against the official Firestore emulator with firestore.rules."""

from __future__ import annotations

import time

import pytest

from mobile_app.auth import UnsignedTokens
from mobile_app.firestore_rest import FirestoreClient, FirestoreError
from mobile_app.messages import Message, State
from mobile_app.store import MessageStore
from mobile_app.sync import Backoff, SyncEngine
from tests.app.test_sync import wait_until
from tests.support.servers import FirestoreEmulator, why_no_firestore_emulator

pytestmark = pytest.mark.emulator
FAST = Backoff(first_s=0.05, factor=2.0, max_s=0.5, jitter=0.0)


def client_for(emulator: FirestoreEmulator, uid: str) -> FirestoreClient:
    return FirestoreClient(emulator.base_url, emulator.project, UnsignedTokens(uid, emulator.project))


def admin_docs(emulator: FirestoreEmulator, uid: str) -> list[dict]:
    status, body = emulator.request("GET", f"{emulator.documents_url}/users/{uid}/messages",
                                    headers=emulator.admin_headers)
    assert status == 200, body
    return body.get("documents", [])


def write_result(emulator: FirestoreEmulator, uid: str, mid: str, fields: dict) -> None:
    """An admin write, as the Cloud Function's Admin SDK makes it (rules bypassed)."""
    mask = "&".join(f"updateMask.fieldPaths={k}" for k in fields)
    status, body = emulator.request("PATCH", f"{emulator.documents_url}/users/{uid}/messages/{mid}?{mask}",
                                    {"fields": fields}, emulator.admin_headers)
    assert status == 200, body


def completed(label: str, score: float) -> dict:
    return {"status": {"mapValue": {"fields": {"state": {"stringValue": "COMPLETED"}}}},
            "emotion": {"mapValue": {"fields": {"label": {"stringValue": label},
                                                "score": {"doubleValue": score},
                                                "model": {"stringValue": "minilm"}}}}}


def test_client_creates_reads_its_own_and_is_refused_anothers(firestore):
    alice, mallory = client_for(firestore, "alice"), client_for(firestore, "mallory")
    created = alice.create_message("m1", "I love this", "bert")
    assert created and created.endswith("Z")  # the server's REQUEST_TIME, passed by the rules
    assert alice.create_message("m1", "I love this", "bert") is None  # the retry: already there
    docs = admin_docs(firestore, "alice")
    assert len(docs) == 1 and set(docs[0]["fields"]) == {"text", "model", "createdAt"}

    own = alice.get_message("m1")
    assert own.fields["text"] == "I love this" and own.fields["createdAt"] == created
    assert [d.id for d in alice.recent_messages()] == ["m1"]
    assert list(alice.get_messages(["m1", "nope"]).items())[1] == ("nope", None)

    with pytest.raises(FirestoreError) as err:
        mallory.get_message("m1", uid="alice")
    assert err.value.status == "PERMISSION_DENIED"
    with pytest.raises(FirestoreError, match="PERMISSION_DENIED"):
        mallory.recent_messages(uid="alice")
    with pytest.raises(FirestoreError, match="PERMISSION_DENIED"):
        mallory.get_messages(["m1"], uid="alice")
    with pytest.raises(FirestoreError, match="PERMISSION_DENIED"):
        mallory.create_message("m2", "written in alice's name", "default", uid="alice")
    # The device's own checks stand in front of the rules, but the rules hold on their own too.
    with pytest.raises(FirestoreError, match="PERMISSION_DENIED"):
        alice.create_message("m3", "x" * 2001, "default")
    assert [d["name"].rsplit("/", 1)[-1] for d in admin_docs(firestore, "alice")] == ["m1"]


def test_history_is_ordered_by_server_time(firestore):
    alice = client_for(firestore, "alice")
    for i in range(3):
        alice.create_message(f"m{i}", f"message {i}", "default")
    assert [d.id for d in alice.recent_messages(limit=2)] == ["m1", "m2"]  # newest two, oldest first


def test_engine_delivers_once_and_shows_results_and_errors(firestore, tmp_path):
    store = MessageStore.for_user(tmp_path, "alice")
    engine = SyncEngine(store, client_for(firestore, "alice"), send_backoff=FAST, poll_backoff=FAST).start()
    try:
        happy = engine.send("We won the final!", "minilm")
        broken = engine.send("Classify me with a model that does not exist", "nonexistent")
        wait_until(lambda: len(admin_docs(firestore, "alice")) == 2)
        # Stand-in for the Cloud Function (functions/ has the real one; the e2e tier runs it).
        write_result(firestore, "alice", happy.id, completed("joy", 0.97))
        write_result(firestore, "alice", broken.id, {"status": {"mapValue": {"fields": {
            "state": {"stringValue": "ERROR"},
            "error": {"mapValue": {"fields": {
                "code": {"stringValue": "UNKNOWN_MODEL"},
                "message": {"stringValue": "No model named 'nonexistent'."}}}}}}}})
        wait_until(lambda: not store.unfinished())
    finally:
        engine.stop()
    assert store.get(happy.id).emotion.label == "joy"
    got = store.get(broken.id)
    assert (got.state, got.error_code, got.error_message) == (State.ERROR, "UNKNOWN_MODEL",
                                                               "No model named 'nonexistent'.")


def test_a_send_killed_after_the_server_had_it_is_not_duplicated(firestore, tmp_path):
    """The write landed but the app died before recording it: the restart's retry finds it."""
    store = MessageStore.for_user(tmp_path, "alice")
    msg = Message.compose("did this arrive?", "default")
    store.add(msg)
    client = client_for(firestore, "alice")
    first = client.create_message(msg.id, msg.text, msg.model)  # ... and then the process is killed
    assert store.get(msg.id).state is State.QUEUED
    # The next start: a new store from the same file and a new engine.
    restarted = MessageStore.for_user(tmp_path, "alice")
    engine = SyncEngine(restarted, client, send_backoff=FAST, poll_backoff=FAST, sync_history=False).start()
    try:
        wait_until(lambda: restarted.get(msg.id).state is State.SENT)
    finally:
        engine.stop()
    docs = admin_docs(firestore, "alice")
    assert len(docs) == 1 and docs[0]["fields"]["createdAt"]["timestampValue"] == first


@pytest.fixture
def own_emulator(tmp_path):
    """A second emulator on a fixed port, for this test to stop and start."""
    reason = why_no_firestore_emulator()
    if reason:
        pytest.skip(reason)
    emulator = FirestoreEmulator(log_path=tmp_path / "emulator.log")
    yield emulator
    emulator.stop()


def test_outbox_survives_a_restart_and_an_emulator_that_comes_back(own_emulator, tmp_path):
    store = MessageStore.for_user(tmp_path, "alice")
    client = client_for(own_emulator, "alice")  # the port is fixed; nothing listens yet
    engine = SyncEngine(store, client, send_backoff=FAST, poll_backoff=FAST).start()
    sent = [engine.send(f"offline message {i}", "default") for i in range(3)]
    wait_until(lambda: store.outbox()[0].attempts >= 3)
    assert all("No connection" in (m.last_attempt_error or "") for m in store.outbox())
    assert len(store.outbox()) == 3
    engine.stop()  # the app is closed while still offline

    restarted = MessageStore.for_user(tmp_path, "alice")
    assert [m.id for m in restarted.outbox()] == [m.id for m in sent]
    engine = SyncEngine(restarted, client, send_backoff=FAST, poll_backoff=FAST).start()
    try:
        time.sleep(0.3)
        own_emulator.start()  # the network comes back
        wait_until(lambda: not restarted.outbox(), timeout=20)
        # ... and drops once more while messages wait for their results, then returns.
        own_emulator.stop()
        time.sleep(0.5)
        own_emulator.start()  # a fresh emulator is empty: nothing kept the documents
        late = engine.send("sent after the outage", "default")
        wait_until(lambda: restarted.get(late.id).state is State.SENT, timeout=20)
    finally:
        engine.stop()
    assert [d["name"].rsplit("/", 1)[-1] for d in admin_docs(own_emulator, "alice")] == [late.id]
    assert all(restarted.get(m.id).state is State.SENT for m in sent)
