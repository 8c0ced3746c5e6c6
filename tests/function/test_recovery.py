"""Emulator tier: messages whose run died (PROCESSING past the lease) are found and finished."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from typing import Any

import pytest
from chat_emotion.handler import Service, Settings
from chat_emotion.recovery import find_stuck, recover
from chat_emotion.repository import FirestoreRepository
from chat_emotion.store import LocalStore

from tests.function.conftest import PROJECT, REPO_ROOT

pytestmark = pytest.mark.emulator


def _seed(client: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(minutes=10)
    base = {"text": "i feel so happy today", "model": "default", "createdAt": old}
    for path, state, started in (("users/a/messages/dead", "PROCESSING", old),
                                 ("users/b/messages/busy", "PROCESSING", now),
                                 ("users/a/messages/done", "COMPLETED", old)):
        client.document(path).set({**base, "status": {"state": state, "startTime": started}})


def test_recover_finishes_only_dead_runs(firestore: Any, monkeypatch: pytest.MonkeyPatch,
                                         model_store: LocalStore) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore.host)
    from google.cloud import firestore as gcf

    client = gcf.Client(project=PROJECT)
    _seed(client)
    assert find_stuck(client, older_than_s=120) == ["users/a/messages/dead"]
    service = Service(repository=FirestoreRepository(client), store=model_store,
                      settings=Settings(model_store=str(model_store.root), lease_s=120))
    outcomes = recover(service, client, PROJECT)
    assert {path: o.state for path, o in outcomes.items()} == {"users/a/messages/dead": "COMPLETED"}
    assert client.document("users/a/messages/dead").get().to_dict()["emotion"]["label"] == "joy"
    assert client.document("users/b/messages/busy").get().to_dict()["status"]["state"] == "PROCESSING"
    assert recover(service, client, PROJECT) == {}


def test_recovery_cli_dry_run(firestore: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore.host)
    from google.cloud import firestore as gcf

    _seed(gcf.Client(project=PROJECT))
    out = subprocess.run([sys.executable, "-m", "chat_emotion.recovery", "--project", PROJECT, "--dry-run"],
                         capture_output=True, text=True, check=True, cwd=REPO_ROOT, timeout=120).stdout
    assert out.splitlines() == ["users/a/messages/dead stuck", "1 stuck message(s)"]


def test_the_sweep_deletes_expired_rate_limit_counters_only(firestore: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from chat_emotion import quota
    from chat_emotion.recovery import sweep_counters

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore.host)
    from google.cloud import firestore as gcf

    client = gcf.Client(project=PROJECT)
    repository = FirestoreRepository(client)
    now = dt.datetime.now(dt.UTC)
    for uid, when in (("old", now - dt.timedelta(days=3)), ("today", now)):
        client.document(f"users/{uid}/messages/m").set({"text": "hi", "model": "default", "createdAt": now})
        repository.claim(f"users/{uid}/messages/m", lease_s=120, count=quota.window(uid, when))
    assert sweep_counters(client) == 1
    left = [snap.id for snap in client.collection(quota.COLLECTION).stream()]
    assert left == [quota.window("today", now).document.split("/")[1]]
