"""Model store faults: each ends as ERROR with its own code; other models and the instance go on.

Unit tier: the real entry point (functions/main.py:classify_message, protobuf CloudEvents through
functions-framework) with the in-memory repository, one warm instance (one installed Service)
for every fault, so "the instance survives" is the next message on the same instance succeeding.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chat_emotion import errors
from chat_emotion.artifact import MODEL_FILE, TOKENIZER_FILE, Manifest, build_manifest
from chat_emotion.store import LocalStore, open_store

from tests.function.conftest import UNUSED_FIRESTORE
from tests.support.memory_repository import MemoryRepository
from tests.support.servers import free_port
from tests.support.tiny_model import TinyArtifact

BUDGET_MB = 32  # the tiny model needs ~9 MB by the cache's rule; `huge` needs ~56 MB


def padded_copy(source: Path, target: Path, name: str, extra_floats: int) -> Path:
    """A copy of an artifact whose model.onnx carries an unused weight of `extra_floats` floats:
    a valid, loadable, correctly hashed artifact that is simply large."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    shutil.copytree(source, target)
    model = onnx.load(str(target / MODEL_FILE))
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(extra_floats, np.float32), "padding"))
    onnx.save(model, str(target / MODEL_FILE))
    fields = {f.name: getattr(Manifest.load(source), f.name) for f in dataclasses.fields(Manifest)
              if f.name != "files"}
    build_manifest(target, **{**fields, "name": name})
    return target


@pytest.fixture
def faulty_store(tmp_path: Path, tiny_artifacts: dict[str, TinyArtifact]) -> LocalStore:
    """tiny (the default, healthy), tinymulti (healthy), and three broken models."""
    store = LocalStore(tmp_path / "store")
    single = tiny_artifacts["single"].directory
    store.publish(single, make_default=True)
    store.publish(tiny_artifacts["multi"].directory)
    for name in ("missing", "corrupt"):
        store.publish(single, name=name)
    store.publish(padded_copy(single, tmp_path / "huge", "huge", extra_floats=6_000_000))
    (store.root / "missing" / "v1" / MODEL_FILE).unlink()
    tokenizer = store.root / "corrupt" / "v1" / TOKENIZER_FILE
    tokenizer.write_text(tokenizer.read_text().replace("happy", "hoppy"))  # still valid JSON; one byte off
    return store


@pytest.fixture
def repo(monkeypatch: pytest.MonkeyPatch) -> MemoryRepository:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", UNUSED_FIRESTORE)
    return MemoryRepository()


def send(repo: MemoryRepository, deliver: Callable[..., int], path: str, model: str,
         text: str = "i feel so happy today") -> dict[str, Any]:
    import datetime as dt

    fields = {"text": text, "model": model, "createdAt": dt.datetime.now(dt.UTC)}
    repo.create(path, fields)
    assert deliver(path, fields) == 200  # the instance answers, whatever the fault
    return repo.get(path) or {}


FAULTS = [("missing", errors.MODEL_ARTIFACT_MISSING), ("corrupt", errors.MODEL_ARTIFACT_CORRUPT),
          ("huge", errors.MODEL_TOO_LARGE)]


@pytest.mark.parametrize(("model", "code"), FAULTS, ids=[m for m, _ in FAULTS])
def test_fault_is_an_error_with_its_code_and_the_others_keep_working(
        repo: MemoryRepository, faulty_store: LocalStore, install_service: Callable[..., Any],
        deliver: Callable[..., int], model: str, code: str) -> None:
    service = install_service(repo, faulty_store, cache_mb=BUDGET_MB)
    assert send(repo, deliver, "users/a/messages/before", "tiny")["status"]["state"] == "COMPLETED"
    doc = send(repo, deliver, "users/a/messages/fault", model)
    assert (doc["status"]["state"], doc["status"]["error"]["code"]) == ("ERROR", code), doc
    assert "emotion" not in doc
    if model == "corrupt":
        assert "sha256" in doc["status"]["error"]["message"]
    if model == "huge":
        assert "MODEL_CACHE_MB" in doc["status"]["error"]["message"]
        assert service.model_cache().used_bytes <= BUDGET_MB * 2**20  # never loaded
    # The warm model and another one both still work on this instance.
    for i, other in enumerate(("tiny", "tinymulti")):
        after = send(repo, deliver, f"users/a/messages/after-{i}", other)
        assert after["status"]["state"] == "COMPLETED", after
    assert repo.completions == 3


def test_faults_interleaved_with_good_messages_under_concurrency(
        repo: MemoryRepository, faulty_store: LocalStore, install_service: Callable[..., Any],
        deliver: Callable[..., int]) -> None:
    install_service(repo, faulty_store, cache_mb=BUDGET_MB)
    models = ["tiny", "missing", "tinymulti", "corrupt", "huge", "default"] * 5
    outcomes: dict[str, str] = {}
    failures: list[str] = []

    def one(i: int, model: str) -> None:
        try:
            doc = send(repo, deliver, f"users/u{i % 4}/messages/m{i}", model)
            outcomes[f"m{i}"] = doc["status"].get("error", {}).get("code", doc["status"]["state"])
        except BaseException as err:  # noqa: BLE001  (reported in the assertion below)
            failures.append(repr(err))

    threads = [threading.Thread(target=one, args=(i, m)) for i, m in enumerate(models)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    expected = {"tiny": "COMPLETED", "tinymulti": "COMPLETED", "default": "COMPLETED", **dict(FAULTS)}
    assert outcomes == {f"m{i}": expected[m] for i, m in enumerate(models)}


def test_unreachable_gs_store_is_an_error_within_the_timeout_and_the_instance_recovers(
        repo: MemoryRepository, model_store: LocalStore, install_service: Callable[..., Any],
        deliver: Callable[..., int], monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()  # nothing listens there: connections are refused
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{closed}")
    service = install_service(repo, None)
    service.store = open_store("gs://models-unreachable/models", cache_dir=model_store.root.parent / "cache")
    started = time.monotonic()
    doc = send(repo, deliver, "users/a/messages/unreachable", "default")
    elapsed = time.monotonic() - started
    code = doc["status"]["error"]["code"]
    assert (doc["status"]["state"], code) == ("ERROR", errors.MODEL_STORE_UNAVAILABLE)
    assert "gs://models-unreachable/models" in doc["status"]["error"]["message"]
    assert elapsed < 30, f"{elapsed:.0f} s: past half the function's 60 s timeout"
    service.store = model_store  # the store comes back: the same instance serves again
    assert send(repo, deliver, "users/a/messages/back", "default")["status"]["state"] == "COMPLETED"
