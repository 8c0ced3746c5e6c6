"""Labels on the device: the shipped students through chat_emotion.runtime inside the app.

Unit tier: the real runtime and real artifacts from models/store; the network is a scripted
Firestore (tests/app/test_sync.py's) and, for the model download, a stand-in for the Firebase
Storage REST API (Google's endpoint; the Storage emulator's rules runtime is a download, so
storage.rules itself is checked in tests/reliability/test_storage_rules.py where it can run).
The emulator tier (tests/e2e/test_device_labels.py) runs the app's engine offline and back online
against the real function.
"""

from __future__ import annotations

import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mobile_app.messages import Emotion, Message, State
from mobile_app.ondevice import (
    REPO_STORE,
    DeviceLabeller,
    DeviceModelError,
    StorageSource,
    auto_shows_device_label,
    local_candidates,
)
from mobile_app.ondevice import main as ondevice_main
from mobile_app.presentation import ON_DEVICE, describe
from mobile_app.store import MessageStore
from mobile_app.sync import SyncEngine
from tests.app.scripted_server import ScriptedServer
from tests.app.test_sync import FakeFirestore, engine_for, wait_until
from tests.support.servers import free_port

MODEL = "distilbert"


def store_copy(tmp_path: Path, name: str = MODEL) -> Path:
    version = (REPO_STORE / name / "LATEST").read_text().strip()
    target = tmp_path / "artifact"
    shutil.copytree(REPO_STORE / name / version, target)
    return target


@pytest.fixture(scope="module")
def labeller(tmp_path_factory) -> DeviceLabeller:
    labeller = DeviceLabeller(name=MODEL, data_dir=tmp_path_factory.mktemp("device"))
    labeller.load()
    return labeller


def test_the_device_labels_with_the_functions_own_runtime(labeller):
    from chat_emotion.runtime import Classifier

    emotion = labeller.label("i am so happy and grateful for all of you today")
    assert emotion is not None and emotion.on_device and emotion.model == MODEL
    assert emotion.label == "joy" and abs(sum(emotion.scores.values()) - 1) < 1e-4
    # The same artifact through the function's Classifier gives the same answer: one runtime.
    text = "i am so happy and grateful for all of you today"
    same = Classifier.load(labeller._classifier.directory).predict([text])
    assert same[0].label == emotion.label and abs(same[0].score - emotion.score) < 1e-6
    assert labeller.status.startswith(f"ready: {labeller.ref}") and labeller.latency_ms() > 0


def test_a_corrupt_model_is_refused_with_its_reason(tmp_path):
    folder = store_copy(tmp_path)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    labeller = DeviceLabeller(name="no-such-model", explicit=str(folder), data_dir=tmp_path).start()
    assert not labeller.wait(30)
    assert labeller.failed and "sha256 of model.onnx" in labeller.status
    assert labeller.label("anything") is None


def test_a_named_folder_that_is_broken_is_reported_not_swapped_for_another_copy(tmp_path):
    folder = store_copy(tmp_path)
    (folder / "tokenizer.json").write_text("{}")
    assert local_candidates(MODEL, tmp_path, str(folder)) == [folder]  # the store's copy is not tried
    labeller = DeviceLabeller(name=MODEL, explicit=str(folder), data_dir=tmp_path).start()
    assert not labeller.wait(30) and "sha256 of tokenizer.json" in labeller.status


def test_bundling_copies_the_latest_artifact_verified(tmp_path, capsys):
    assert ondevice_main([MODEL, "--dest", str(tmp_path / "bundle")]) == 0
    folder = tmp_path / "bundle" / MODEL
    assert "sha256 verified" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.onnx", "tokenizer.json"]
    labeller = DeviceLabeller(name=MODEL, explicit=str(folder), data_dir=tmp_path)
    labeller.load()
    assert labeller.label("what a wonderful day").on_device
    with pytest.raises(SystemExit) as exit_info:
        ondevice_main(["no-such-model", "--dest", str(tmp_path / "bundle")])
    assert exit_info.value.code == 1 and "has no model 'no-such-model'" in capsys.readouterr().err


def test_a_missing_model_says_where_it_looked(tmp_path):
    with pytest.raises(DeviceModelError, match="no copy of 'no-such-model' on this device"):
        DeviceLabeller(name="no-such-model", data_dir=tmp_path).load()


def _without(monkeypatch, *modules: str, missing: str = "onnxruntime") -> None:
    """Make importing `modules` fail as it does where `missing` is not installed."""
    import builtins

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name in modules:
            raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)


def test_without_onnx_runtime_the_app_labels_with_numpy_and_says_so(tmp_path, monkeypatch, labeller):
    _without(monkeypatch, "chat_emotion.runtime")
    device = DeviceLabeller(name=MODEL, data_dir=tmp_path)
    device.load()
    assert device.engine_used == "numpy" and "on numpy" in device.status
    text = "i am so happy and grateful for all of you today"
    mine, theirs = device.label(text), labeller.label(text)
    assert labeller.engine_used == "onnxruntime" and "on ONNX Runtime" in labeller.status
    assert mine.label == theirs.label and abs(mine.score - theirs.score) < 0.02


def test_without_any_engine_the_app_says_what_to_install(tmp_path, monkeypatch):
    _without(monkeypatch, "chat_emotion.runtime", "chat_emotion.numpy_runtime", missing="numpy")
    with pytest.raises(DeviceModelError, match=r"numpy is missing.*pip install numpy"):
        DeviceLabeller(name=MODEL, data_dir=tmp_path).load()
    with pytest.raises(DeviceModelError, match=r"ONNX Runtime was asked for"):
        DeviceLabeller(name=MODEL, data_dir=tmp_path, engine="onnxruntime").load()


def test_hybrid_shows_a_device_label_at_once_then_the_clouds_replaces_it(tmp_path, labeller):
    fs = FakeFirestore()
    with ScriptedServer(fs.route) as server:
        engine = engine_for(server, tmp_path, labeller=labeller, mode="hybrid").start()
        try:
            msg = engine.send("i feel so alone and miserable tonight", "bert")
            # Before any network answer: the device's label is stored with the message.
            stored = engine.store.get(msg.id)
            assert stored.device_emotion is not None and stored.device_emotion.label == "sadness"
            assert ON_DEVICE in describe(stored).chip and "sadness" in describe(stored).chip
            wait_until(lambda: msg.id in fs.docs)
            fs.finish(msg.id, label="fear")
            wait_until(lambda: engine.store.get(msg.id).state is State.COMPLETED)
        finally:
            engine.stop()
    done = engine.store.get(msg.id)
    # Replaced, not merged: the cloud's label alone, and the chip no longer says "on device".
    assert done.emotion.label == "fear" and done.device_emotion is None
    assert ON_DEVICE not in describe(done).chip and describe(done).chip.startswith("fear")
    # The device never writes `emotion`: the create carries text and model only.
    assert set(fs.docs[msg.id]) == {"text", "model", "createdAt", "status", "emotion"}


def test_the_sync_threads_copies_never_undo_a_device_label(tmp_path):
    store = MessageStore.for_user(tmp_path, "alice")
    msg = Message.compose("hello", "bert")
    store.add(msg)
    stale = store.get(msg.id)                       # the sync thread's copy, taken before
    assert store.set_device_emotion(msg.id, Emotion("joy", 0.9, on_device=True))
    stale.delivered("2026-12-02T10:00:00Z")
    store.put(stale)                                # ...written back after
    assert store.get(msg.id).device_emotion.label == "joy"
    assert MessageStore(store.path).get(msg.id).device_emotion.on_device  # and on disk


def test_device_mode_labels_here_and_sends_nothing(tmp_path, labeller):
    store = MessageStore.for_user(tmp_path, "device")
    engine = SyncEngine(store, None, labeller=labeller, mode="device").start()
    msg = engine.send("this is outrageous, i am furious", "default")
    assert msg.state is State.LOCAL and msg.emotion.label == "anger" and msg.emotion.on_device
    assert engine._thread is None and engine.polls == 0 and store.outbox() == []
    view = describe(store.get(msg.id))
    assert "kept on this device" in view.status and ON_DEVICE in view.chip
    with pytest.raises(ValueError, match="only device mode"):
        SyncEngine(store, None, mode="hybrid")


def test_device_mode_labels_what_was_sent_before_the_model_loaded(tmp_path, labeller):
    store = MessageStore.for_user(tmp_path, "device")
    waiting = DeviceLabeller(name=MODEL, data_dir=tmp_path)  # not loaded yet
    changed: list[str] = []
    engine = SyncEngine(store, None, labeller=waiting, mode="device", on_change=changed.extend)
    msg = engine.send("what a lovely surprise", "default")
    assert store.get(msg.id).emotion is None
    assert describe(store.get(msg.id)).chip == "no on-device model: see Settings"
    waiting.load()
    engine.label_unlabelled()
    assert store.get(msg.id).emotion is not None and changed == [msg.id]


def test_auto_labels_on_the_device_when_it_is_faster_or_the_cloud_is_away():
    assert auto_shows_device_label(1.0, None, online=True)         # nothing known: the cloud may be cold
    assert auto_shows_device_label(1.0, 250.0, online=True)        # a few ms beats a round trip
    assert not auto_shows_device_label(400.0, 250.0, online=True)  # a slow device waits for the cloud
    assert auto_shows_device_label(400.0, 250.0, online=False)     # offline, the device is all there is
    assert not auto_shows_device_label(float("nan"), 250.0, online=True)
    assert not auto_shows_device_label(1.0, 80.0, online=True)  # the cloud feels instant: no flicker


class StorageStandIn:
    """The Firebase Storage REST API's download (GET /v0/b/BUCKET/o/PATH?alt=media) over a folder,
    refusing requests without a Firebase ID token, as storage.rules' `request.auth != null` does."""

    def __init__(self, root: Path, bucket: str) -> None:
        self.root, self.bucket, self.port, self.paths = root, bucket, free_port(), []

    def __enter__(self) -> StorageStandIn:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                prefix = f"/v0/b/{outer.bucket}/o/"
                name = urllib.parse.unquote(url.path.removeprefix(prefix))
                outer.paths.append(name)
                file = outer.root / name.removeprefix("models/")
                if not self.headers.get("Authorization", "").removeprefix("Firebase ").strip():
                    status, body = 403, b"{}"
                elif not url.path.startswith(prefix) or "alt=media" not in url.query or not file.is_file():
                    status, body = 404, b"{}"
                else:
                    status, body = 200, file.read_bytes()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def bucket_with(tmp_path: Path, name: str = "roberta") -> Path:
    root = tmp_path / "bucket"
    shutil.copytree(REPO_STORE / name, root / name)
    return root


def test_a_model_missing_on_the_device_is_fetched_verified_and_cached(tmp_path, monkeypatch):
    monkeypatch.setattr("mobile_app.ondevice.REPO_STORE", tmp_path / "no-repo-store")
    root = bucket_with(tmp_path)
    data_dir = tmp_path / "data"
    with StorageStandIn(root, "demo.appspot.com") as storage:
        source = StorageSource(f"http://127.0.0.1:{storage.port}", "demo.appspot.com", lambda: "token")
        labeller = DeviceLabeller(name="roberta", data_dir=data_dir, source=source)
        labeller.load()
        version = (root / "roberta" / "LATEST").read_text().strip()
        assert labeller.ref == f"roberta@{version}"
        assert storage.paths == ["models/roberta/LATEST"] + [
            f"models/roberta/{version}/{f}" for f in ("manifest.json", "model.onnx", "tokenizer.json")]
        # The next start finds the cached copy and downloads nothing.
        storage.paths.clear()
        DeviceLabeller(name="roberta", data_dir=data_dir, source=source).load()
        assert storage.paths == []
    assert (data_dir / "models" / "roberta" / version / "model.onnx").is_file()


def test_a_tampered_download_is_refused_and_nothing_is_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr("mobile_app.ondevice.REPO_STORE", tmp_path / "no-repo-store")
    root = bucket_with(tmp_path)
    version = (root / "roberta" / "LATEST").read_text().strip()
    (root / "roberta" / version / "tokenizer.json").write_text("{}")
    with StorageStandIn(root, "b") as storage:
        labeller = DeviceLabeller(name="roberta", data_dir=tmp_path / "data",
                                  source=StorageSource(f"http://127.0.0.1:{storage.port}", "b", lambda: "t"))
        with pytest.raises(DeviceModelError, match="sha256 of tokenizer.json"):
            labeller.load()
        assert not labeller.ready
        signed_out = DeviceLabeller(name="roberta", data_dir=tmp_path / "data2",
                                    source=StorageSource(f"http://127.0.0.1:{storage.port}", "b", lambda: ""))
        with pytest.raises(DeviceModelError, match="answered 403.*storage.rules"):
            signed_out.load()
