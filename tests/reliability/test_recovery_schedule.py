"""Crash recovery: a run killed after its claim, and a trigger that never came, are finished once.

Emulator tier: FirestoreRepository on the official emulator, the real entry points
(functions/main.py:classify_message through functions-framework with protobuf CloudEvents, and
functions/main.py:recover_messages called as Cloud Scheduler calls it). An instance "dies" by a
BaseException raised where classification would start: after the claim, before any write, and
not caught by the handler's last line of defence (as nothing runs after a SIGKILL or an OOM kill).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from chat_emotion import errors, handler
from chat_emotion.store import LocalStore

from tests.function.conftest import PROJECT, log_entries

pytestmark = pytest.mark.emulator

LEASE_S = 2.0  # the function's is 120 s (2 x timeout); short here so the test need not wait


class InstanceKilled(BaseException):
    """The instance dies: nothing after this point runs (BaseException passes `except Exception`)."""


@pytest.fixture
def client(firestore: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore.host)
    from google.cloud import firestore as gcf

    return gcf.Client(project=PROJECT)


@pytest.fixture
def service(client: Any, model_store: LocalStore, install_service: Callable[..., Any]) -> Any:
    from chat_emotion.repository import FirestoreRepository

    return install_service(FirestoreRepository(client), model_store, lease_s=LEASE_S, max_attempts=3)


def create(client: Any, path: str, text: str = "i feel so happy today") -> dict[str, Any]:
    from google.cloud import firestore as gcf

    fields = {"text": text, "model": "default"}
    client.document(path).create({**fields, "createdAt": gcf.SERVER_TIMESTAMP})
    return fields


def kill_classification(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every run die right after its claim; returns the texts it died on."""
    died: list[str] = []

    def die(service: Any, text: str, model_value: object) -> dict[str, Any]:
        died.append(text)
        raise InstanceKilled

    monkeypatch.setattr(handler, "classify", die)
    return died


def ok_counts(captured: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in log_entries(captured):
        if entry.get("code") == "OK":
            counts[entry["path"]] = counts.get(entry["path"], 0) + 1
    return counts


def status(client: Any, path: str) -> dict[str, Any]:
    return client.document(path).get().to_dict()["status"]


def test_killed_run_and_lost_trigger_are_each_finished_exactly_once(
        client: Any, service: Any, deliver: Callable[..., int], run_schedule: Callable[[], int],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    killed, lost, done = "users/u1/messages/killed", "users/u2/messages/lost", "users/u1/messages/done"
    fields = create(client, killed)
    with monkeypatch.context() as patch:
        died = kill_classification(patch)
        with pytest.raises(InstanceKilled):
            deliver(killed, fields)  # the real entry point claims, then the instance dies
    assert died == [fields["text"]]
    assert (status(client, killed)["state"], status(client, killed)["attempts"]) == ("PROCESSING", 1)
    create(client, lost)  # its delivery never comes
    raced = "users/u2/messages/raced"
    raced_fields = create(client, raced)  # its delivery comes late, while the sweep runs
    deliver(done, create(client, done))
    assert status(client, done)["state"] == "COMPLETED"

    time.sleep(LEASE_S + 0.5)  # both now older than the lease
    fresh = "users/u3/messages/fresh"
    create(client, fresh)  # younger than the lease: its trigger may still be on its way
    # A late delivery races the sweep: exactly one of them classifies the message.
    late = threading.Thread(target=deliver, args=(raced, raced_fields))
    late.start()
    assert run_schedule() == 200
    late.join(30)

    for path in (killed, lost, raced):
        doc = client.document(path).get().to_dict()
        assert doc["status"]["state"] == "COMPLETED", (path, doc)
        assert doc["emotion"]["label"] == "joy"
    assert status(client, killed)["attempts"] == 2
    assert "status" not in client.document(fresh).get().to_dict()
    assert ok_counts(capsys.readouterr().out) == {done: 1, killed: 1, lost: 1, raced: 1}

    assert run_schedule() == 200  # a second sweep finds nothing more to do
    assert ok_counts(capsys.readouterr().out) == {}


def test_a_message_that_kills_every_run_ends_as_error_after_three_attempts(
        client: Any, service: Any, deliver: Callable[..., int], run_schedule: Callable[[], int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = "users/u1/messages/poison"
    fields = create(client, path)
    died = kill_classification(monkeypatch)
    with pytest.raises(InstanceKilled):
        deliver(path, fields)  # attempt 1: the trigger
    for attempt in (2, 3):  # the sweeps take over the dead lease, and die too
        time.sleep(LEASE_S + 0.5)
        with pytest.raises(InstanceKilled):
            run_schedule()
        assert status(client, path)["attempts"] == attempt
    time.sleep(LEASE_S + 0.5)
    assert run_schedule() == 200  # attempt 4 is refused before classification starts
    final = status(client, path)
    assert (final["state"], final["error"]["code"]) == ("ERROR", errors.ATTEMPTS_EXHAUSTED)
    assert "3 runs" in final["error"]["message"]
    assert len(died) == 3
    time.sleep(LEASE_S + 0.5)
    assert run_schedule() == 200  # ERROR is final: no further attempt
    assert len(died) == 3 and status(client, path)["state"] == "ERROR"


def test_unprocessed_window_excludes_old_and_young_messages(client: Any) -> None:
    from chat_emotion.recovery import find_unprocessed

    now = dt.datetime.now(dt.UTC)
    for name, age_s in (("ancient", 7200), ("window", 600), ("young", 30)):
        client.document(f"users/u/messages/{name}").set(
            {"text": "t", "model": "default", "createdAt": now - dt.timedelta(seconds=age_s)})
    client.document("users/u/messages/claimed").set(
        {"text": "t", "model": "default", "createdAt": now - dt.timedelta(seconds=600),
         "status": {"state": "COMPLETED"}})
    found = find_unprocessed(client, older_than_s=120, horizon_s=1800, now=now)
    assert found == ["users/u/messages/window"]
