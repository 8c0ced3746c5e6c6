"""Labels on the device against the Emulator Suite with the real function (issue 13's tests).

The app's own engine and labeller (mobile_app/ondevice.py, the function's runtime on the shipped
`distilbert` student) talk to the Firestore emulator through scripts/net_proxy.py, which takes
the link away and gives it back, as a phone losing its signal would.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from mobile_app.firestore_rest import FirestoreClient
from mobile_app.messages import State
from mobile_app.ondevice import REPO_STORE, DeviceLabeller
from mobile_app.presentation import ON_DEVICE, describe
from mobile_app.store import MessageStore
from mobile_app.sync import Backoff, SyncEngine
from scripts.emulator_suite import EmulatorSuite
from scripts.net_proxy import NetProxy
from tests.e2e.test_suite_flow import sign_in

pytestmark = pytest.mark.e2e
TEXTS = ["i am thrilled, we won the final", "i feel so lonely since you left",
         "that was a horrible thing to say"]
QUICK = Backoff(first_s=0.2, factor=1.5, max_s=1.0, jitter=0.0)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.fixture(scope="module")
def labeller(tmp_path_factory: pytest.TempPathFactory) -> DeviceLabeller:
    labeller = DeviceLabeller(name="distilbert", data_dir=tmp_path_factory.mktemp("device"))
    labeller.load()
    return labeller


def test_offline_messages_get_device_labels_then_the_clouds_once_back(
        suite: EmulatorSuite, labeller: DeviceLabeller, tmp_path: Path) -> None:
    auth, _ = sign_in(suite, tmp_path, "offline")  # signed in earlier; the signal goes now
    with NetProxy(suite.firestore_url.removeprefix("http://")) as link:
        link.online = False
        client = FirestoreClient(f"http://{link.address}", suite.project, auth)
        engine = SyncEngine(MessageStore.for_user(tmp_path / "app", auth.uid), client, sync_history=False,
                            labeller=labeller, mode="auto", send_backoff=QUICK).start()
        try:
            sent = [engine.send(text, "default") for text in TEXTS]
            for msg in sent:  # a label at once, from the device, while nothing can be sent
                stored = engine.store.get(msg.id)
                assert stored.device_emotion is not None and stored.device_emotion.on_device
                assert ON_DEVICE in describe(stored).chip
            wait_for(lambda: not engine.online, 10, "the engine never noticed it was offline")
            time.sleep(1.0)  # a few failed rounds
            assert [m.id for m in engine.store.outbox()] == [m.id for m in sent]
            outbox = engine.store.outbox()  # tried in order: the first failure holds the rest back
            assert outbox[0].attempts >= 2 and all(m.last_attempt_error for m in outbox)
            assert link.connections == 0
            link.online = True
            engine.kick(reset=True)  # what the app does on resume / network back
            wait_for(lambda: all(engine.store.get(m.id).state is State.COMPLETED for m in sent), 90,
                     "the cloud's labels never arrived")
        finally:
            engine.stop()
    done = [engine.store.get(m.id) for m in sent]
    # Replaced, not merged: the chip is the cloud's now.
    assert all(m.device_emotion is None and not m.emotion.on_device for m in done)
    assert all(ON_DEVICE not in describe(m).chip and m.emotion.model_version for m in done)
    # Delivered exactly once: the person's collection holds each message once, with its text.
    docs = FirestoreClient(suite.firestore_url, suite.project, auth).recent_messages()
    assert sorted(d.id for d in docs) == sorted(m.id for m in sent)
    assert {d.id: d.fields["text"] for d in docs} == {m.id: m.text for m in sent}


def test_device_mode_sends_nothing(suite: EmulatorSuite, labeller: DeviceLabeller, tmp_path: Path) -> None:
    auth, _ = sign_in(suite, tmp_path, "private")
    with NetProxy(suite.firestore_url.removeprefix("http://")) as link:
        engine = SyncEngine(MessageStore.for_user(tmp_path / "app", "device"), None, labeller=labeller,
                            mode="device").start()
        messages = [engine.send(text, "default") for text in TEXTS]
        time.sleep(1.0)
        engine.stop()
        assert link.connections == 0 and link.bytes_up == 0  # not one byte towards the backend
    assert all(m.state is State.LOCAL and m.emotion.on_device for m in messages)
    assert FirestoreClient(suite.firestore_url, suite.project, auth).recent_messages() == []


def test_a_corrupt_device_model_leaves_the_cloud_path_working(suite: EmulatorSuite, tmp_path: Path) -> None:
    version = (REPO_STORE / "distilbert" / "LATEST").read_text().strip()
    folder = tmp_path / "broken"
    shutil.copytree(REPO_STORE / "distilbert" / version, folder)
    (folder / "tokenizer.json").write_text("{}")
    broken = DeviceLabeller(name="distilbert", explicit=str(folder), data_dir=tmp_path).start()
    assert not broken.wait(30) and "sha256 of tokenizer.json" in broken.status
    auth, client = sign_in(suite, tmp_path, "broken-model")
    engine = SyncEngine(MessageStore.for_user(tmp_path / "app", auth.uid), client, sync_history=False,
                        labeller=broken, mode="hybrid").start()
    try:
        msg = engine.send("we finally got the keys to our first home", "default")
        assert engine.store.get(msg.id).device_emotion is None
        wait_for(lambda: engine.store.get(msg.id).state is State.COMPLETED, 90, "no cloud label")
    finally:
        engine.stop()
    assert engine.store.get(msg.id).emotion.label
