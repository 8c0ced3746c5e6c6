"""Emulator tier: the official Firestore emulator delivers the trigger to the real function.

    app-style REST create ──▶ Firestore emulator ──(Eventarc trigger, base64 protobuf)──▶
    chat_emotion.emulator_adapter + functions-framework + functions/main.py (a subprocess)
    ──▶ status + emotion written back into the emulator

The function server runs with its real settings (MODEL_STORE from the environment, the default
FirestoreRepository), so this also covers the wiring main.py -> Settings -> Service.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from chat_emotion.store import LocalStore

from tests.function.conftest import PROJECT, REPO_ROOT, log_entries
from tests.support.cloudevents import created_event
from tests.support.firestore_rest import commit_create, get_document
from tests.support.servers import FirestoreEmulator, free_port, stop_process_group, why_no_firestore_emulator
from tests.support.tiny_model import SINGLE_LABELS, TinyArtifact

pytestmark = pytest.mark.emulator
GOEMOTIONS = "goemotions"


@dataclass
class Stack:
    emulator: FirestoreEmulator
    function_url: str
    function_log: Path

    def entries(self, path: str) -> list[dict]:
        logged = log_entries(self.function_log.read_text(errors="replace"))
        return [e for e in logged if e.get("path") == path]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"function server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"function server not listening on {port} after {timeout:.0f} s:\n{log.read_text()}")


BURST_LIMITS = {"RATE_PER_MINUTE": "100000", "RATE_PER_DAY": "1000000"}
"""Limits no test here reaches (tests/reliability/test_burst.py sends 50 a person at once), yet
counted: the rate-limit write rides on every claim of this tier. tests/reliability/test_rate_limit.py
runs a stack with small ones."""


@contextlib.contextmanager
def running_stack(root: Path, tiny_artifacts: dict[str, TinyArtifact],
                  params: dict[str, str]) -> Iterator[Stack]:
    """The emulator (rules loaded) delivering to the function server, which gets `params` as env."""
    reason = why_no_firestore_emulator()
    if reason:
        pytest.skip(reason)
    store = LocalStore(root / "store")
    store.publish(tiny_artifacts["single"].directory, make_default=True)
    store.publish(tiny_artifacts["multi"].directory)
    shipped = REPO_ROOT / "models" / "store" / GOEMOTIONS
    if (shipped / "LATEST").is_file():  # the shipped multi-label model, served as it is
        store.publish(shipped / (shipped / "LATEST").read_text().strip())

    function_port = free_port()
    emulator = FirestoreEmulator(functions_emulator=f"127.0.0.1:{function_port}",
                                 log_path=root / "firestore.log")
    log = root / "function.log"
    env = {**os.environ, "GCLOUD_PROJECT": PROJECT, "FIRESTORE_EMULATOR_HOST": emulator.host,
           "MODEL_STORE": str(store.root), "NO_GCE_CHECK": "true", "METADATA_SERVER_DETECTION": "none",
           "PYTHONUNBUFFERED": "1", **params}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chat_emotion.emulator_adapter",
             "--source", str(REPO_ROOT / "functions/main.py"), "--target", "classify_message",
             "--host", "127.0.0.1", "--port", str(function_port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO_ROOT)
    try:
        _wait_for_port(function_port, proc, log)
        with emulator:
            emulator.register_trigger("classify_message", "users/{uid}/messages/{messageId}")
            yield Stack(emulator, f"http://127.0.0.1:{function_port}", log)
    finally:
        # Only the server this fixture started: its own process group, by pid.
        stop_process_group(proc)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory,
          tiny_artifacts: dict[str, TinyArtifact]) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("delivery"), tiny_artifacts, BURST_LIMITS) as running:
        yield running


def wait_for_state(stack: Stack, path: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, doc = get_document(stack.emulator, path)
        if doc and doc.get("status", {}).get("state") in ("COMPLETED", "ERROR"):
            return doc
        time.sleep(0.1)
    raise AssertionError(f"{path} not processed within {timeout} s; function log:\n"
                         f"{stack.function_log.read_text()[-3000:]}")


def emulator_style_delivery(stack: Stack, path: str, event_id: str) -> int:
    """POST an event exactly as the emulator does: base64 protobuf body, doubled `projects/`."""
    headers, body = created_event(path, {"text": "x", "model": "default"}, project=PROJECT, event_id=event_id)
    headers["ce-source"] = headers["ce-source"].replace("/projects/", "/projects/projects/")
    request = urllib.request.Request(
        f"{stack.function_url}/functions/projects/{PROJECT}/triggers/{PROJECT}/us-central1/classify_message",
        data=base64.b64encode(body), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def create_as_user(stack: Stack, uid: str, message_id: str, text: str, model: str = "default") -> str:
    path = f"users/{uid}/messages/{message_id}"
    status, body = commit_create(stack.emulator, path, {"text": text, "model": model},
                                 stack.emulator.user_headers(uid))
    assert status == 200, body
    return path


def test_write_triggers_classification_and_write_back(stack: Stack) -> None:
    path = create_as_user(stack, "alice", "hello-1", "i feel so happy today")
    doc = wait_for_state(stack, path)
    assert doc["status"]["state"] == "COMPLETED", doc
    assert doc["emotion"]["label"] == "joy"
    assert set(doc["emotion"]["scores"]) == set(SINGLE_LABELS)
    assert (doc["emotion"]["model"], doc["emotion"]["modelVersion"]) == ("tiny", "v1")
    created = dt.datetime.fromisoformat(doc["createdAt"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 120  # REQUEST_TIME, set by the server
    # The owner reads the result (rules loaded); nobody else can.
    assert get_document(stack.emulator, path, stack.emulator.user_headers("alice"))[0] == 200
    assert get_document(stack.emulator, path, stack.emulator.user_headers("mallory"))[0] == 403


def test_own_write_back_does_not_trigger_again(stack: Stack) -> None:
    path = create_as_user(stack, "alice", "hello-2", "wow what a surprise")
    wait_for_state(stack, path)
    time.sleep(1.5)  # room for a (wrong) second delivery caused by the function's update
    assert [e["code"] for e in stack.entries(path)] == ["OK"]


def test_bad_message_through_the_emulator(stack: Stack) -> None:
    path = create_as_user(stack, "bob", "bad-model", "hello", model="no-such-model")
    doc = wait_for_state(stack, path)
    assert (doc["status"]["state"], doc["status"]["error"]["code"]) == ("ERROR", "MODEL_UNKNOWN")


def test_redelivered_event_twice_is_a_no_op(stack: Stack) -> None:
    path = create_as_user(stack, "carol", "dup-2", "this is terrible")
    first = wait_for_state(stack, path)
    assert emulator_style_delivery(stack, path, "redelivery-a") == 200
    assert emulator_style_delivery(stack, path, "redelivery-a") == 200
    _, after = get_document(stack.emulator, path)
    assert after == first
    logged = sorted(e["code"] for e in stack.entries(path))
    assert logged == ["DUPLICATE_DELIVERY", "DUPLICATE_DELIVERY", "OK"]


def test_five_concurrent_deliveries_classify_exactly_once(stack: Stack) -> None:
    # The emulator's own delivery races five more of the same event, sent the instant the message exists.
    path = create_as_user(stack, "dave", "dup-5", "i love you so much")
    barrier = threading.Barrier(5)
    results: list[int | str] = []

    def deliver() -> None:
        barrier.wait()
        try:
            results.append(emulator_style_delivery(stack, path, "concurrent"))
        except Exception as err:  # keep it for the assertion message; a thread's exception is lost
            results.append(repr(err))

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200] * 5, (results, stack.function_log.read_text()[-4000:])
    wait_for_state(stack, path)
    deadline = time.monotonic() + 10
    while len(stack.entries(path)) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    logged = [e["code"] for e in stack.entries(path)]
    assert logged.count("OK") == 1, logged
    assert logged.count("DUPLICATE_DELIVERY") == 5, logged


def test_function_log_is_structured(stack: Stack) -> None:
    path = create_as_user(stack, "erin", "log-1", "i feel so happy today")
    wait_for_state(stack, path)
    (entry,) = stack.entries(path)
    assert entry["severity"] == "INFO" and entry["code"] == "OK"
    assert {"eventId", "label", "model", "modelVersion", "latencyMs"} <= set(entry)
    json.dumps(entry)  # one JSON object per line: what Cloud Logging indexes


def test_the_shipped_goemotions_model_gets_its_labels(stack: Stack) -> None:
    """27 emotions + neutral through the real trigger: `labels` is every label over its own tuned
    threshold, highest first, `neutral` only alone, and `label` the first of them."""
    shipped = REPO_ROOT / "models" / "store" / GOEMOTIONS
    assert (shipped / "LATEST").is_file(), "models/store/goemotions is shipped with the repository"
    manifest = json.loads((shipped / (shipped / "LATEST").read_text().strip() / "manifest.json").read_text())
    cuts = manifest["thresholds"]
    texts = {"ge-1": "Thank you so much, this is amazing!", "ge-2": "The bus comes at 5.",
             "ge-3": "I'm so sorry for your loss, that is awful."}
    for mid, text in texts.items():
        create_as_user(stack, "gina", mid, text, model=GOEMOTIONS)
    seen = {}
    for mid in texts:
        doc = wait_for_state(stack, f"users/gina/messages/{mid}")
        assert doc["status"]["state"] == "COMPLETED", doc
        emotion = doc["emotion"]
        assert set(emotion["scores"]) == set(manifest["labels"]) and len(emotion["scores"]) == 28
        on = [k for k, p in emotion["scores"].items() if p >= cuts[k] and k != "neutral"] or ["neutral"]
        assert emotion["labels"] == sorted(on, key=lambda k: -emotion["scores"][k])
        assert emotion["label"] == emotion["labels"][0]
        seen[mid] = emotion["labels"]
    assert "gratitude" in seen["ge-1"]
    assert seen["ge-2"] == ["neutral"]
    assert {"sadness", "remorse", "caring"} & set(seen["ge-3"])
