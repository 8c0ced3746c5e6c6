"""The real entry point (functions/main.py:classify_message) through functions-framework's test
client, with real protobuf CloudEvents, for success, every bad input, and duplicates.

Every scenario runs three times: against the in-memory repository (unit tier, no server), and on the
official Firestore emulator (`emulator` marker) against FirestoreRepository (the client library)
and RestRepository (the REST API, what the trigger's instances use). Same assertions, so the
in-memory double and both real repositories are held to Firestore's behaviour.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from chat_emotion import errors, handler, quota
from chat_emotion.firestore_rest import RestRepository
from chat_emotion.handler import Service, Settings
from chat_emotion.repository import FirestoreRepository
from chat_emotion.store import LocalStore

from tests.function.conftest import PROJECT, UNUSED_FIRESTORE, log_entries
from tests.support.cloudevents import created_event
from tests.support.memory_repository import MemoryRepository
from tests.support.tiny_model import MULTI_LABELS, SINGLE_LABELS

PATH = "users/alice/messages/m1"


@dataclass
class Backend:
    name: str
    repository: Any
    create: Callable[[str, dict[str, Any]], None]
    get: Callable[[str], dict[str, Any] | None]


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulator),
                        pytest.param("rest", marks=pytest.mark.emulator)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Backend:
    if request.param == "memory":
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", UNUSED_FIRESTORE)
        repo = MemoryRepository()
        return Backend("memory", repo, repo.create, repo.get)
    emulator = request.getfixturevalue("firestore")  # the session's emulator, emptied for this test
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    from google.cloud import firestore

    client = firestore.Client(project=PROJECT)

    def get(path: str) -> dict[str, Any] | None:
        snapshot = client.document(path).get()
        return snapshot.to_dict() if snapshot.exists else None

    # `firestore`: the client library (the sweep's); `rest`: the REST API (the trigger's instances).
    repository = FirestoreRepository(client) if request.param == "firestore" else RestRepository(PROJECT)
    return Backend(request.param, repository, lambda p, f: client.document(p).set(f), get)


@pytest.fixture
def service(backend: Backend, model_store: LocalStore) -> Iterator[Service]:
    svc = Service(repository=backend.repository, store=model_store,
                  settings=Settings(model_store=str(model_store.root)))
    handler.install(svc)
    yield svc
    handler.install(None)


@pytest.fixture
def deliver(function_app: Any, service: Service) -> Callable[..., None]:
    client = function_app.test_client()

    def send(document: str, fields: dict[str, Any] | None, *, event_id: str | None = None) -> None:
        headers, body = created_event(document, fields, project=PROJECT, event_id=event_id)
        response = client.post("/", headers=headers, data=body)
        # The function never fails the request for a bad message: retries are off, so a 500
        # would only lose it. Outcomes live on the message and in the log.
        assert response.status_code == 200, response.get_data(as_text=True)

    return send


def message(text: Any = "i feel so happy today", model: Any = "default", **extra: Any) -> dict[str, Any]:
    return {"text": text, "model": model, "createdAt": dt.datetime.now(dt.UTC), **extra}


def codes(captured: str) -> list[str]:
    return [entry.get("code") for entry in log_entries(captured) if entry.get("code")]


def test_classifies_with_the_default_model(backend: Backend, deliver: Callable[..., None],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    backend.create(PATH, message())
    deliver(PATH, message())
    doc = backend.get(PATH)
    assert doc is not None
    status, emotion = doc["status"], doc["emotion"]
    assert status["state"] == "COMPLETED"
    assert {"startTime", "updateTime", "completeTime"} <= set(status)
    assert "error" not in status
    # The tiny model's bias makes `joy` win (tests/support/tiny_model.py).
    assert emotion["label"] == "joy"
    assert set(emotion["scores"]) == set(SINGLE_LABELS)
    assert sum(emotion["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert emotion["score"] == pytest.approx(max(emotion["scores"].values()))
    assert (emotion["model"], emotion["modelVersion"]) == ("tiny", "v1")
    assert emotion["latencyMs"] >= 0
    assert "labels" not in emotion
    assert doc["text"] == "i feel so happy today"  # the client's fields are left alone
    assert codes(capsys.readouterr().out) == ["OK"]


def test_multi_label_model_lists_every_label_over_the_threshold(backend: Backend,
                                                                deliver: Callable[..., None]) -> None:
    backend.create(PATH, message(model="tinymulti"))
    deliver(PATH, message(model="tinymulti"))
    emotion = backend.get(PATH)["emotion"]
    assert set(emotion["scores"]) == set(MULTI_LABELS)
    assert sorted(emotion["labels"]) == ["admiration", "gratitude"]
    assert emotion["label"] in emotion["labels"]
    assert all(emotion["scores"][label] >= 0.5 for label in emotion["labels"])
    assert emotion["model"] == "tinymulti"


@pytest.mark.parametrize("model", ["tiny", "tiny@v1", "  TINY ", "default"])
def test_model_references(backend: Backend, deliver: Callable[..., None], model: str) -> None:
    backend.create(PATH, message(model=model))
    deliver(PATH, message(model=model))
    doc = backend.get(PATH)
    assert doc["status"]["state"] == "COMPLETED"
    assert (doc["emotion"]["model"], doc["emotion"]["modelVersion"]) == ("tiny", "v1")


def test_text_of_exactly_2000_characters_is_classified(backend: Backend,
                                                       deliver: Callable[..., None]) -> None:
    text = ("i feel so happy today " * 100)[:2000]
    backend.create(PATH, message(text=text))
    deliver(PATH, message(text=text))
    assert backend.get(PATH)["status"]["state"] == "COMPLETED"


BAD_MESSAGES = [
    ("empty text", message(text=""), errors.TEXT_EMPTY),
    ("whitespace text", message(text=" \n\t "), errors.TEXT_EMPTY),
    ("text over 2000", message(text="a" * 2001), errors.TEXT_TOO_LONG),
    ("text is a number", message(text=42), errors.TEXT_NOT_STRING),
    ("text is null", message(text=None), errors.TEXT_NOT_STRING),
    ("text is a map", message(text={"a": "b"}), errors.TEXT_NOT_STRING),
    ("no text", {"model": "default"}, errors.FIELDS_MISSING),
    ("no model", {"text": "hello"}, errors.FIELDS_MISSING),
    ("nothing", {}, errors.FIELDS_MISSING),
    ("unknown model", message(model="nosuchmodel"), errors.MODEL_UNKNOWN),
    ("unknown version", message(model="tiny@v9"), errors.MODEL_UNKNOWN),
    ("malformed model", message(model="../../etc/passwd"), errors.MODEL_NAME_INVALID),
    ("malformed version", message(model="tiny@"), errors.MODEL_NAME_INVALID),
    ("empty model", message(model=""), errors.MODEL_NAME_INVALID),
    ("model is a number", message(model=7), errors.MODEL_NAME_INVALID),
    ("default with a version", message(model="default@v1"), errors.MODEL_NAME_INVALID),
]


@pytest.mark.parametrize(("fields", "code"), [pytest.param(f, c, id=i) for i, f, c in BAD_MESSAGES])
def test_bad_input_ends_as_error_with_its_code(backend: Backend, deliver: Callable[..., None],
                                               capsys: pytest.CaptureFixture[str],
                                               fields: dict[str, Any], code: str) -> None:
    backend.create(PATH, fields)
    deliver(PATH, fields)
    doc = backend.get(PATH)
    assert doc["status"]["state"] == "ERROR"
    assert doc["status"]["error"]["code"] == code
    assert len(doc["status"]["error"]["message"]) > 10  # a sentence a person can act on
    assert "emotion" not in doc
    # Nothing lost: whatever the client wrote is still there.
    kept = {k: v for k, v in fields.items() if k != "createdAt"}
    assert {k: doc[k] for k in kept} == kept
    assert code in codes(capsys.readouterr().out)


def _damage(store: LocalStore, how: str) -> None:
    version = store.root / "tiny" / "v1"
    if how == "corrupt model":
        (version / "model.onnx").write_bytes(b"not an onnx model")
    elif how == "missing tokenizer":
        (version / "tokenizer.json").unlink()
    elif how == "unparsable manifest":
        (version / "manifest.json").write_text("{ not json")
    elif how == "missing version folder":
        for path in version.iterdir():
            path.unlink()
        version.rmdir()


@pytest.mark.parametrize(("how", "code"), [
    ("corrupt model", errors.MODEL_ARTIFACT_CORRUPT),
    ("missing tokenizer", errors.MODEL_ARTIFACT_MISSING),
    ("unparsable manifest", errors.MODEL_ARTIFACT_CORRUPT),
    ("missing version folder", errors.MODEL_ARTIFACT_MISSING),  # LATEST names a version that is gone
])
def test_damaged_model_artifact(backend: Backend, deliver: Callable[..., None], model_store: LocalStore,
                                how: str, code: str) -> None:
    _damage(model_store, how)
    backend.create(PATH, message())
    deliver(PATH, message())
    doc = backend.get(PATH)
    assert (doc["status"]["state"], doc["status"]["error"]["code"]) == ("ERROR", code)


def test_missing_store_is_an_error_on_the_message(backend: Backend, deliver: Callable[..., None],
                                                  service: Service, tmp_path: Path) -> None:
    service.store = LocalStore(tmp_path / "no-such-store")
    backend.create(PATH, message())
    deliver(PATH, message())
    doc = backend.get(PATH)
    assert doc["status"]["error"]["code"] == errors.MODEL_STORE_UNAVAILABLE
    assert "MODEL_STORE" in doc["status"]["error"]["message"]


def test_unexpected_exception_is_recorded_not_raised(backend: Backend, deliver: Callable[..., None],
                                                     service: Service, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def explode(name: str, version: str) -> Path:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service.store, "fetch", explode)  # any bug below the handler
    backend.create(PATH, message())
    deliver(PATH, message())
    doc = backend.get(PATH)
    assert doc["status"]["state"] == "ERROR"
    assert doc["status"]["error"]["code"] == errors.INTERNAL
    logged = [e for e in log_entries(capsys.readouterr().err) if e.get("code") == errors.INTERNAL]
    assert logged and "disk on fire" in logged[0]["traceback"]


def test_message_deleted_before_processing_writes_nothing(backend: Backend, deliver: Callable[..., None],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    deliver(PATH, message())  # the event exists, the document no longer does
    assert backend.get(PATH) is None  # not resurrected by the function's write
    assert codes(capsys.readouterr().out) == [errors.MESSAGE_DELETED]


@pytest.mark.parametrize("document", ["users/alice/notes/n1", "rooms/r1/messages/m1",
                                      "users/alice/messages/m1/replies/r1"])
def test_event_for_another_path_is_ignored(backend: Backend, deliver: Callable[..., None],
                                           capsys: pytest.CaptureFixture[str], document: str) -> None:
    backend.create(document, message())
    deliver(document, message())
    assert "status" not in backend.get(document)
    assert codes(capsys.readouterr().out) == [errors.EVENT_PATH_UNEXPECTED]


def test_same_event_twice_classifies_once(backend: Backend, deliver: Callable[..., None],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    backend.create(PATH, message())
    deliver(PATH, message(), event_id="evt-1")
    first = backend.get(PATH)
    deliver(PATH, message(), event_id="evt-1")
    assert backend.get(PATH) == first  # the duplicate wrote nothing at all
    assert codes(capsys.readouterr().out) == ["OK", errors.DUPLICATE_DELIVERY]


def test_five_concurrent_deliveries_classify_once(backend: Backend, function_app: Any, service: Service,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    backend.create(PATH, message())
    headers, body = created_event(PATH, message(), project=PROJECT, event_id="evt-dup")
    barrier = threading.Barrier(5)
    statuses: list[int] = []

    def one() -> None:
        client = function_app.test_client()
        barrier.wait()
        statuses.append(client.post("/", headers=headers, data=body).status_code)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    captured = capsys.readouterr()
    assert statuses == [200] * 5, captured.err[-3000:]
    logged = codes(captured.out)
    assert sorted(logged) == sorted(["OK"] + [errors.DUPLICATE_DELIVERY] * 4), captured.err[-3000:]
    assert backend.get(PATH)["status"]["state"] == "COMPLETED"


def test_stale_claim_of_a_dead_run_is_taken_over(backend: Backend, deliver: Callable[..., None]) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stuck = message(status={"state": "PROCESSING", "startTime": long_ago, "updateTime": long_ago})
    backend.create(PATH, stuck)
    deliver(PATH, message())
    assert backend.get(PATH)["status"]["state"] == "COMPLETED"


def test_fresh_claim_is_respected(backend: Backend, deliver: Callable[..., None]) -> None:
    now = dt.datetime.now(dt.UTC)
    backend.create(PATH, message(status={"state": "PROCESSING", "startTime": now, "updateTime": now}))
    deliver(PATH, message())
    doc = backend.get(PATH)
    assert doc["status"]["state"] == "PROCESSING" and "emotion" not in doc


def test_classifies_with_a_gs_store(backend: Backend, deliver: Callable[..., None], service: Service,
                                    bucket: str, tmp_path: Path, tiny_artifacts: dict) -> None:
    from chat_emotion.store import open_store

    service.store = open_store(f"gs://{bucket}/models", cache_dir=tmp_path / "cache")
    service.store.publish(tiny_artifacts["multi"].directory, make_default=True)
    backend.create(PATH, message())
    deliver(PATH, message())
    emotion = backend.get(PATH)["emotion"]
    assert (emotion["model"], emotion["modelVersion"]) == ("tinymulti", "v1")


def test_a_gs_download_leaves_tmp_once_loaded(backend: Backend, deliver: Callable[..., None],
                                              service: Service, bucket: str, tmp_path: Path,
                                              tiny_artifacts: dict) -> None:
    """/tmp is memory on Cloud Functions: a download kept for every version a message names would
    let a sender fill the instance. Once loaded it goes; after an eviction it comes back."""
    from chat_emotion.store import open_store

    cache = tmp_path / "cache"
    service.store = open_store(f"gs://{bucket}/models", cache_dir=cache)
    service.store.publish(tiny_artifacts["multi"].directory, make_default=True)

    def downloaded() -> list[str]:
        return sorted(p.name for p in cache.rglob("model.onnx"))

    for i in range(3):
        path = f"users/alice/messages/g{i}"
        backend.create(path, message())
        deliver(path, message())
        assert backend.get(path)["emotion"]["modelVersion"] == "v1"
        assert downloaded() == [], "the loaded version's download is deleted"
        if i == 1:
            service.model_cache().clear()  # evicted: the next message downloads and loads it again
    assert service.model_cache().keys() == [f"{service.store.uri}|tinymulti@v1"]
    # The size estimate was taken from the files before they went.
    assert service.model_cache().used_bytes > 8 * 2**20


@pytest.mark.parametrize(("default_model", "expected"), [
    ("store", "tiny"), ("default", "tiny"), ("", "tiny"), ("tinymulti", "tinymulti"),
    ("tinymulti@v1", "tinymulti")])
def test_default_model_param(backend: Backend, deliver: Callable[..., None], service: Service,
                             default_model: str, expected: str) -> None:
    service.settings = Settings(model_store=service.settings.model_store, default_model=default_model)
    backend.create(PATH, message(model="default"))
    deliver(PATH, message(model="default"))
    assert backend.get(PATH)["emotion"]["model"] == expected


def test_claim_failure_is_logged_and_fails_the_run(backend: Backend, function_app: Any, service: Service,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable(path: str, *, lease_s: float, count: Any = None) -> None:
        raise ConnectionError("firestore unreachable")

    monkeypatch.setattr(service.repository, "claim", unreachable)
    backend.create(PATH, message())
    headers, body = created_event(PATH, message(), project=PROJECT)
    assert function_app.test_client().post("/", headers=headers, data=body).status_code == 500
    assert "status" not in backend.get(PATH)
    logged = [e for e in log_entries(capsys.readouterr().err) if e.get("code") == errors.CLAIM_FAILED]
    assert logged and "firestore unreachable" in logged[0]["traceback"]


class ClaimAfterWarm(MemoryRepository):
    """A claim that stands in for Firestore's slow first round trip on a cold instance: it returns
    once the service holds a loaded model (or after a deadline), and records which it was."""

    def __init__(self, deadline_s: float = 15.0) -> None:
        super().__init__()
        self.service: Service | None = None
        self.deadline_s = deadline_s
        self.model_was_warm: list[bool] = []

    def _warm(self) -> bool:
        return self.service is not None and self.service.cache is not None and len(self.service.cache) > 0

    def claim(self, path: str, *, lease_s: float, count: Any = None) -> Any:
        deadline = time.monotonic() + self.deadline_s
        while not self._warm() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.model_was_warm.append(self._warm())
        return super().claim(path, lease_s=lease_s, count=count)


def test_a_cold_instance_loads_the_model_while_the_claim_waits(
        function_app: Any, model_store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", UNUSED_FIRESTORE)
    repo = ClaimAfterWarm()
    repo.service = Service(repository=repo, store=model_store,
                           settings=Settings(model_store=str(model_store.root)))
    handler.install(repo.service)
    try:
        fields = message(model="tinymulti")
        repo.create(PATH, fields)
        headers, body = created_event(PATH, fields, project=PROJECT)
        assert function_app.test_client().post("/", headers=headers, data=body).status_code == 200
    finally:
        handler.install(None)
    # The load the event's `model` started overlapped the claim, and it was that message's model.
    assert repo.model_was_warm == [True]
    assert repo.service.cache.keys() == [f"{model_store.uri}|tinymulti@v1"]
    assert repo.get(PATH)["emotion"]["model"] == "tinymulti"


# --- rate limits (chat_emotion.quota) -------------------------------------------------------------

NOON = dt.datetime(2026, 12, 5, 12, 0, 10, tzinfo=dt.UTC)


def counter(backend: Backend, uid: str, now: dt.datetime = NOON) -> dict[str, Any] | None:
    """The rate-limit document of `uid` for `now`'s day, as the backend stores it."""
    path = quota.window(uid, now).document
    return backend.repository.counters.get(path) if backend.name == "memory" else backend.get(path)


@pytest.fixture
def limited(service: Service, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the service's limits and stop its clock at NOON (moved with the returned setter)."""
    monkeypatch.setattr(quota, "clock", lambda: NOON)

    def set_limits(per_minute: int, per_day: int) -> None:
        service.settings = replace(service.settings, limits=quota.Limits(per_minute, per_day))

    return set_limits


def test_past_the_minute_limit_a_message_is_refused_before_any_model_runs(
        backend: Backend, deliver: Callable[..., None], limited: Callable[..., None], service: Service,
        capsys: pytest.CaptureFixture[str]) -> None:
    limited(per_minute=3, per_day=100)
    paths = [f"users/alice/messages/a{i}" for i in range(5)]
    for path in paths:
        backend.create(path, message())
        deliver(path, message())
    bob = "users/bob/messages/b0"  # another person in the same minute is not limited
    backend.create(bob, message())
    deliver(bob, message())

    states = [backend.get(p)["status"] for p in paths]
    assert [s["state"] for s in states] == ["COMPLETED"] * 3 + ["ERROR"] * 2
    for status in states[3:]:
        assert status["error"]["code"] == errors.RATE_LIMITED
        assert "more than 3 messages this minute" in status["error"]["message"]
        assert "12:01:00 UTC" in status["error"]["message"]
        assert status["error"]["retryAt"] == dt.datetime(2026, 12, 5, 12, 1, tzinfo=dt.UTC)
        assert "emotion" not in backend.get(paths[3])
    assert backend.get(bob)["status"]["state"] == "COMPLETED"
    logged = codes(capsys.readouterr().out)
    assert logged.count("OK") == 4 and logged.count(errors.RATE_LIMITED) == 2
    # Refused messages were given back: the counters hold what was classified.
    alice = counter(backend, "alice")
    assert alice["day"] == 3 and alice["minute"] == {quota.window("alice", NOON).minute_key: 3}
    assert alice["expireAt"] == dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    assert counter(backend, "bob")["day"] == 1


def test_the_next_minute_is_allowed_again_until_the_day_limit(
        backend: Backend, deliver: Callable[..., None], limited: Callable[..., None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    limited(per_minute=2, per_day=3)
    outcomes = []
    for i, minute in enumerate([0, 0, 0, 1, 2]):
        monkeypatch.setattr(quota, "clock", lambda m=minute: NOON + dt.timedelta(minutes=m))
        path = f"users/alice/messages/d{i}"
        backend.create(path, message())
        deliver(path, message())
        status = backend.get(path)["status"]
        outcomes.append(status["state"] if status["state"] == "COMPLETED" else status["error"]["message"])
    assert outcomes[:2] == ["COMPLETED"] * 2
    assert "this minute" in outcomes[2]
    assert outcomes[3] == "COMPLETED"  # a new minute
    assert "more than 3 messages today (UTC)" in outcomes[4] and "2026-12-06 00:00 UTC" in outcomes[4]
    assert counter(backend, "alice")["day"] == 3


def test_a_message_is_counted_once_whatever_its_deliveries_and_claims(
        backend: Backend, deliver: Callable[..., None], limited: Callable[..., None]) -> None:
    limited(per_minute=10, per_day=10)
    backend.create(PATH, message())
    deliver(PATH, message(), event_id="evt-1")
    deliver(PATH, message(), event_id="evt-1")  # a duplicate delivery: its claim never lands
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stuck = "users/alice/messages/stuck"  # a dead run's claim taken over: attempt 2, not counted again
    backend.create(stuck, message(status={"state": "PROCESSING", "startTime": long_ago,
                                          "updateTime": long_ago, "attempts": 1}))
    deliver(stuck, message())
    assert backend.get(stuck)["status"]["state"] == "COMPLETED"
    assert counter(backend, "alice")["day"] == 1


def test_no_limits_write_no_counter(backend: Backend, deliver: Callable[..., None],
                                    limited: Callable[..., None]) -> None:
    limited(per_minute=0, per_day=0)
    for i in range(3):
        backend.create(f"users/alice/messages/n{i}", message())
        deliver(f"users/alice/messages/n{i}", message())
    assert backend.get("users/alice/messages/n2")["status"]["state"] == "COMPLETED"
    assert counter(backend, "alice") is None
