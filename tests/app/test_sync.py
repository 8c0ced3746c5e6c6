"""The sync engine's decisions (retry, backoff, poll, stop), against a scripted server.

The emulator tier (test_emulator.py) runs the same engine against the official Firestore emulator.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from mobile_app.auth import AuthError, UnsignedTokens
from mobile_app.firestore_rest import FirestoreClient
from mobile_app.messages import State
from mobile_app.store import MessageStore
from mobile_app.sync import Backoff, PollSchedule, SyncEngine
from tests.app.scripted_server import ScriptedServer, Seen, rpc_error

FAST = Backoff(first_s=0.01, factor=2.0, max_s=0.05, jitter=0.0)


class FakeFirestore:
    """Just enough of the REST surface to script: commit, batchGet, runQuery."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}  # id -> fields (already Firestore-typed)
        self.commit_failures: list[tuple[int, dict]] = []
        self.lock = threading.Lock()

    def route(self, req: Seen):
        with self.lock:
            if req.path.endswith(":commit"):
                if self.commit_failures:
                    return self.commit_failures.pop(0)
                write = req.json()["writes"][0]
                mid = write["update"]["name"].rsplit("/", 1)[-1]
                if mid in self.docs:
                    return rpc_error(409, "ALREADY_EXISTS")
                self.docs[mid] = {**write["update"]["fields"],
                                  "createdAt": {"timestampValue": "2026-11-25T10:00:00Z"}}
                return 200, {"writeResults": [{"transformResults": [
                    {"timestampValue": "2026-11-25T10:00:00Z"}]}]}
            if req.path.endswith(":batchGet"):
                out = []
                for name in req.json()["documents"]:
                    mid = name.rsplit("/", 1)[-1]
                    out.append({"found": {"name": name, "fields": self.docs[mid]}} if mid in self.docs
                               else {"missing": name})
                return 200, out
            if req.path.endswith(":runQuery"):
                return 200, [{"readTime": "x"}]
            return 404, {}

    def finish(self, mid: str, label: str = "joy", complete_time: str = "2026-11-25T10:00:00.180Z") -> None:
        with self.lock:
            self.docs[mid]["status"] = {"mapValue": {"fields": {
                "state": {"stringValue": "COMPLETED"}, "completeTime": {"timestampValue": complete_time}}}}
            self.docs[mid]["emotion"] = {"mapValue": {"fields": {
                "label": {"stringValue": label}, "score": {"doubleValue": 0.9}}}}

    def fail(self, mid: str) -> None:
        with self.lock:
            self.docs[mid]["status"] = {"mapValue": {"fields": {
                "state": {"stringValue": "ERROR"},
                "error": {"mapValue": {"fields": {"code": {"stringValue": "UNKNOWN_MODEL"},
                                                  "message": {"stringValue": "No model named x."}}}}}}}


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def engine_for(server: ScriptedServer, tmp_path, tokens=None, **kwargs) -> SyncEngine:
    store = MessageStore.for_user(tmp_path, "alice")
    client = FirestoreClient(server.url, "p", tokens or UnsignedTokens("alice", "p"))
    return SyncEngine(store, client, send_backoff=FAST, poll_backoff=FAST, **kwargs)


def test_server_errors_are_retried_with_the_same_id_until_delivered(tmp_path):
    fs = FakeFirestore()
    fs.commit_failures = [rpc_error(503, "UNAVAILABLE"), rpc_error(429, "RESOURCE_EXHAUSTED"), (0, None)]
    with ScriptedServer(fs.route) as server:
        changes: list[str] = []
        engine = engine_for(server, tmp_path, on_change=changes.extend).start()
        try:
            msg = engine.send("third time lucky", "bert")
            wait_until(lambda: engine.store.get(msg.id).state is State.SENT)
        finally:
            engine.stop()
        commits = [s.json()["writes"][0]["update"]["name"] for s in server.seen if s.path.endswith(":commit")]
        assert len(commits) == 4 and len(set(commits)) == 1 and commits[0].endswith(msg.id)
        assert list(fs.docs) == [msg.id]
        assert engine.store.get(msg.id).attempts == 4
        assert msg.id in changes


def test_results_are_polled_until_final_then_polling_stops(tmp_path):
    fs = FakeFirestore()
    with ScriptedServer(fs.route) as server:
        engine = engine_for(server, tmp_path).start()
        try:
            a = engine.send("good news", "default")
            b = engine.send("bad model", "x")
            wait_until(lambda: len(fs.docs) == 2)
            wait_until(lambda: engine.polls >= 3)  # nothing yet: it keeps asking, backing off
            fs.finish(a.id)
            fs.fail(b.id)
            wait_until(lambda: not engine.store.unfinished())
            polls = engine.polls
            time.sleep(0.3)  # 6x the longest poll interval
            assert engine.polls == polls, "idle: no more polling"
        finally:
            engine.stop()
        done, failed = engine.store.get(a.id), engine.store.get(b.id)
        assert done.state is State.COMPLETED and done.emotion.label == "joy"
        assert failed.state is State.ERROR and failed.error_message == "No model named x."
        gets = [s for s in server.seen if s.path.endswith(":batchGet")]
        assert all(len(g.json()["documents"]) <= 2 for g in gets)


def test_polling_gives_up_when_nothing_changes_and_resumes_on_a_kick(tmp_path):
    fs = FakeFirestore()
    with ScriptedServer(fs.route) as server:
        engine = engine_for(server, tmp_path, poll_give_up_s=0.3).start()
        try:
            msg = engine.send("anyone there?", "default")
            wait_until(lambda: msg.id in fs.docs)
            time.sleep(0.6)
            polls = engine.polls
            time.sleep(0.3)
            assert engine.polls == polls  # the function never answered: stopped asking
            fs.finish(msg.id)
            engine.kick(reset=True)  # e.g. the app came back to the foreground
            wait_until(lambda: engine.store.get(msg.id).state is State.COMPLETED)
        finally:
            engine.stop()


def test_a_refused_write_stays_with_its_reason_and_can_be_retried(tmp_path):
    fs = FakeFirestore()
    fs.commit_failures = [rpc_error(400, "INVALID_ARGUMENT", "model too long")]
    with ScriptedServer(fs.route) as server:
        engine = engine_for(server, tmp_path).start()
        try:
            refused = engine.send("first", "default")
            after = engine.send("second", "default")
            wait_until(lambda: engine.store.get(after.id).state is State.SENT)
            got = engine.store.get(refused.id)
            assert got.state is State.REJECTED and "model too long" in got.error_message
            engine.retry(refused.id)
            wait_until(lambda: engine.store.get(refused.id).state is State.SENT)
        finally:
            engine.stop()
        assert set(fs.docs) == {refused.id, after.id}


def test_retry_of_a_server_error_sends_the_text_again_as_a_new_message(tmp_path):
    fs = FakeFirestore()
    with ScriptedServer(fs.route) as server:
        engine = engine_for(server, tmp_path).start()
        try:
            msg = engine.send("classify me", "x")
            wait_until(lambda: msg.id in fs.docs)
            fs.fail(msg.id)
            wait_until(lambda: engine.store.get(msg.id).state is State.ERROR)
            again = engine.retry(msg.id)
            assert again is not None and again.id != msg.id and again.text == msg.text
            assert engine.retry(msg.id) is None  # once
            wait_until(lambda: again.id in fs.docs)
        finally:
            engine.stop()
        assert engine.store.get(msg.id).retried


def test_a_sign_in_that_is_gone_stops_sending_and_keeps_the_outbox(tmp_path):
    class Revoked(UnsignedTokens):
        def id_token(self) -> str:
            raise AuthError("Your sign-in is no longer valid: sign in again.", code="INVALID_REFRESH_TOKEN")

    fs = FakeFirestore()
    with ScriptedServer(fs.route) as server:
        lost = threading.Event()
        engine = engine_for(server, tmp_path, tokens=Revoked("alice", "p"),
                            on_auth_lost=lambda message: lost.set()).start()
        try:
            msg = engine.send("keep me", "default")
            assert lost.wait(5)
        finally:
            engine.stop()
        assert server.seen == [] and fs.docs == {}
        assert engine.store.get(msg.id).state is State.QUEUED


def test_the_poll_schedule_follows_the_functions_latency():
    schedule = PollSchedule(backoff=Backoff(first_s=0.25, factor=1.5, max_s=20.0, jitter=0.0))
    assert schedule.first() == 0.25  # nothing known yet (maybe a cold instance): look every 0.3 s...
    assert schedule.after_miss(3, processing=False) == 0.3
    assert schedule.after_miss(41, processing=False) == 20.0  # ...for 40 looks, then back off (to 20 s)
    schedule.observe(1.8)  # a cold start: never makes the looks later than before anything was known
    assert schedule.first() == 0.25 and schedule.after_miss(1, processing=False) == 0.25
    schedule.observe(0.15)
    schedule.observe(0.15)
    assert schedule.first() == pytest.approx(0.15)  # the median: the cold start no longer counts
    assert schedule.after_miss(1, processing=False) == pytest.approx(0.075)  # then from half of it
    assert schedule.after_miss(5, processing=True) == 0.1  # claimed: the result is a model run away
    assert schedule.after_miss(50, processing=True) > 1.0  # ...unless the run died: back off again
    schedule.observe(-3.0)  # a clock that disagrees is ignored
    assert schedule.recent == [1.8, 0.15, 0.15]
    for _ in range(10):
        schedule.observe(0.06)
    assert schedule.first() == pytest.approx(0.06) and len(schedule.recent) == schedule.window


def test_the_engine_learns_the_latency_from_the_documents(tmp_path):
    fs = FakeFirestore()
    with ScriptedServer(fs.route) as server:
        engine = engine_for(server, tmp_path).start()
        try:
            msg = engine.send("good news", "default")
            wait_until(lambda: msg.id in fs.docs)
            fs.finish(msg.id, complete_time="2026-11-25T10:00:00.180Z")  # createdAt 10:00:00Z
            wait_until(lambda: engine.store.get(msg.id).state is State.COMPLETED)
        finally:
            engine.stop()
        assert engine.schedule.estimate_s == pytest.approx(0.18)
        assert engine.reads >= engine.polls >= 1
