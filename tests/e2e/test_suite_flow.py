"""The whole cloud side through the app's own clients, against firebase-tools' emulators.

A person signs in anonymously with the Auth emulator (the app's FirebaseAuth), writes messages
with the app's FirestoreClient (rules judge them), firebase-tools delivers each create to our
function (functions/main.py, discovered and run by firebase-tools itself), and the label comes
back on the message.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mobile_app.auth import FirebaseAuth
from mobile_app.config import EMULATOR_API_KEY
from mobile_app.firestore_rest import FirestoreClient, FirestoreError
from mobile_app.messages import new_message_id
from scripts.emulator_suite import EmulatorSuite
from tests.e2e.conftest import FINAL_STATES, StoreInfo

pytestmark = pytest.mark.e2e


def sign_in(suite: EmulatorSuite, tmp_path: Path, who: str) -> tuple[FirebaseAuth, FirestoreClient]:
    auth = FirebaseAuth(EMULATOR_API_KEY, f"{suite.auth_url}/identitytoolkit.googleapis.com",
                        f"{suite.auth_url}/securetoken.googleapis.com", tmp_path / f"session-{who}.json")
    auth.sign_in_anonymously()
    assert auth.uid
    return auth, FirestoreClient(suite.firestore_url, suite.project, auth)


def wait_final(client: FirestoreClient, message_id: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    fields: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = client.get_message(message_id)
        fields = doc.fields if doc else {}
        if fields.get("status", {}).get("state") in FINAL_STATES:
            return fields
        time.sleep(0.3)
    raise AssertionError(f"message {message_id} not final after {timeout:.0f} s: {fields}")


def test_anonymous_user_gets_a_label_from_each_of_two_models(suite: EmulatorSuite, model_store: StoreInfo,
                                                             tmp_path: Path) -> None:
    _, client = sign_in(suite, tmp_path, "alice")
    sent: list[tuple[str, str, str]] = []  # (id, text, model asked)
    plan = [("I got the job, I'm so happy!", "default"),
            ("This is terrible, I'm furious.", model_store.second),
            ("I miss you so much.", model_store.default),
            ("Wow, I did not expect that at all!", model_store.second)]
    for text, model in plan:
        mid = new_message_id()
        assert client.create_message(mid, text, model) is not None  # createdAt: the server's time
        sent.append((mid, text, model))
    served = set()
    for mid, text, model in sent:
        fields = wait_final(client, mid)
        assert fields["status"]["state"] == "COMPLETED", fields
        emotion = fields["emotion"]
        name = model_store.default if model == "default" else model
        assert emotion["model"] == name
        assert emotion["label"] in model_store.labels[name]
        assert 0.0 <= emotion["score"] <= 1.0
        assert set(emotion["scores"]) == set(model_store.labels[name])
        assert emotion["modelVersion"]
        if model_store.tiny and name == "minilm":
            assert emotion["label"] == "joy"  # the tiny artifact's bias makes joy win
        if model_store.tiny and name == "bert":
            assert sorted(emotion["labels"]) == ["admiration", "gratitude"]  # multi-label, over 0.5
        assert fields["text"] == text  # the function never rewrites what the person wrote
        served.add(emotion["model"])
    assert served == {model_store.default, model_store.second}


def test_bad_input_ends_as_error_with_its_code(suite: EmulatorSuite, model_store: StoreInfo,
                                               tmp_path: Path) -> None:
    auth, client = sign_in(suite, tmp_path, "bob")
    # Passes the rules (any 1..64 character model name), but no such model exists.
    mid = new_message_id()
    client.create_message(mid, "hello there", "nosuchmodel")
    fields = wait_final(client, mid)
    assert fields["status"]["state"] == "ERROR"
    assert fields["status"]["error"]["code"] == "MODEL_UNKNOWN"
    assert "emotion" not in fields
    # What rules refuse never reaches the function: an empty text...
    with pytest.raises(FirestoreError) as refused:
        client.create_message(new_message_id(), "", "default")
    assert refused.value.status == "PERMISSION_DENIED"
    # ...but a document written around the rules (the Admin SDK's bypass) with a number for text
    # still gets its ERROR from the function rather than crashing it.
    bad_id = new_message_id()
    url = f"{suite.documents_url}/users/{auth.uid}/messages?documentId={bad_id}"
    status, body = suite.request("POST", url, {"fields": {"text": {"integerValue": "42"},
                                                          "model": {"stringValue": "default"}}},
                                 {"Authorization": "Bearer owner"})
    assert status == 200, body
    fields = wait_final(client, bad_id)
    assert fields["status"]["state"] == "ERROR"
    assert fields["status"]["error"]["code"] == "TEXT_NOT_STRING"
    # And the function is still healthy: the next good message is labelled.
    ok_id = new_message_id()
    client.create_message(ok_id, "all good now", "default")
    assert wait_final(client, ok_id)["status"]["state"] == "COMPLETED"


def test_a_second_user_cannot_read_the_first_users_messages(suite: EmulatorSuite, tmp_path: Path) -> None:
    alice_auth, alice = sign_in(suite, tmp_path, "alice2")
    mallory_auth, mallory = sign_in(suite, tmp_path, "mallory")
    assert alice_auth.uid != mallory_auth.uid
    mid = new_message_id()
    alice.create_message(mid, "a secret", "default")
    assert alice.get_message(mid) is not None
    with pytest.raises(FirestoreError) as single:
        mallory.get_message(mid, uid=alice_auth.uid)
    assert single.value.status == "PERMISSION_DENIED"
    with pytest.raises(FirestoreError) as listing:
        mallory.recent_messages(uid=alice_auth.uid)
    assert listing.value.status == "PERMISSION_DENIED"
    # Nor write into Alice's tree.
    with pytest.raises(FirestoreError) as write:
        mallory.create_message(new_message_id(), "not yours", "default", uid=alice_auth.uid)
    assert write.value.status == "PERMISSION_DENIED"
    # Mallory sees only her own (empty) history.
    assert mallory.recent_messages() == []


def test_a_dropped_delivery_is_finished_by_the_local_sweep(suite: EmulatorSuite, tmp_path: Path) -> None:
    """firebase-tools now and then drops a delivery ("socket hang up") and never retries it; the
    Functions emulator never runs `recover_messages` on its schedule either. The suite's sweeper
    (the same recovery code, on a timer) must still give such a message its label. The delivery is
    dropped on purpose here: the hub's disableBackgroundTriggers makes the Functions emulator
    ignore the create event, as if it had been lost."""
    assert suite.sweeper_running()
    _, client = sign_in(suite, tmp_path, "dropped")
    hub = f"http://{suite.host('hub')}"
    assert suite.request("PUT", f"{hub}/functions/disableBackgroundTriggers")[0] == 200
    try:
        mid = new_message_id()
        client.create_message(mid, "I finally passed my driving test!", "default")
        time.sleep(2)
    finally:
        assert suite.request("PUT", f"{hub}/functions/enableBackgroundTriggers")[0] == 200
    doc = client.get_message(mid)
    assert doc is not None and "status" not in doc.fields  # nothing delivered: no status at all
    fields = wait_final(client, mid, timeout=suite.sweep_after_s + suite.sweep_every_s + 90)
    assert fields["status"]["state"] == "COMPLETED", fields
    assert fields["status"]["attempts"] == 1 and fields["emotion"]["label"]
    assert f"{mid} COMPLETED" in suite.sweeper_log.read_text()  # by the sweep, not a late delivery


def test_the_app_polls_on_the_functions_own_latency(suite: EmulatorSuite, tmp_path: Path) -> None:
    """The app's sync engine against the real function: it learns the function's latency from the
    documents (server clocks) and finds each result in few billed reads (docs/APP.md)."""
    from mobile_app.messages import State
    from mobile_app.store import MessageStore
    from mobile_app.sync import SyncEngine

    auth, client = sign_in(suite, tmp_path, "poller")
    engine = SyncEngine(MessageStore.for_user(tmp_path / "app", auth.uid), client, sync_history=False).start()
    try:
        for text in ["warm up", "I am so happy", "this is awful", "what a surprise", "I love it"]:
            msg = engine.send(text, "default")
            deadline = time.monotonic() + 90
            while engine.store.get(msg.id).state is not State.COMPLETED:
                assert time.monotonic() < deadline, engine.store.get(msg.id)
                time.sleep(0.02)
    finally:
        engine.stop()
    estimate = engine.schedule.estimate_s
    assert estimate is not None and 0 < estimate < 30  # learnt from status.completeTime - createdAt
    assert engine.reads / 5 <= 3, (engine.reads, engine.polls)  # the budget: <= 3 reads a message
