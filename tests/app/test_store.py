import json
import os

import pytest

from mobile_app.messages import Message, State
from mobile_app.store import KEEP_FINISHED, MessageStore


def test_history_and_outbox_survive_reopening(tmp_path):
    store = MessageStore.for_user(tmp_path, "alice")
    first, second = Message.compose("one", "default"), Message.compose("two", "bert")
    store.add(first)
    store.add(second)
    first.delivered()
    store.put(first)
    reopened = MessageStore.for_user(tmp_path, "alice")
    assert [m.id for m in reopened.all()] == [first.id, second.id]  # oldest first: newest at the bottom
    assert [m.id for m in reopened.outbox()] == [second.id]
    assert [m.id for m in reopened.unfinished()] == [first.id]
    assert MessageStore.for_user(tmp_path, "bob").all() == []  # histories are per person


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    store = MessageStore.for_user(tmp_path, "alice")
    store.add(Message.compose("kept", "default"))
    before = store.path.read_bytes()

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.add(Message.compose("lost", "default"))
    assert store.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [store.path.name]  # no temporary file left behind
    assert [m.text for m in MessageStore(store.path).all()] == ["kept"]


def test_copies_protect_the_store_from_half_done_updates(tmp_path):
    store = MessageStore.for_user(tmp_path, "alice")
    msg = Message.compose("hi", "default")
    store.add(msg)
    copy = store.get(msg.id)
    copy.delivered()
    assert store.get(msg.id).state is State.QUEUED  # only put() changes the store
    with pytest.raises(ValueError):
        store.add(msg)


def test_old_finished_messages_are_trimmed_but_never_the_outbox(tmp_path):
    store = MessageStore.for_user(tmp_path, "alice")
    queued = Message.compose("still to send", "default")
    queued.created_local = 0.0  # the oldest of all
    done = []
    for i in range(KEEP_FINISHED + 5):
        msg = Message.compose(f"m{i}", "default")
        msg.created_local = 1.0 + i
        msg.apply_server({"status": {"state": "COMPLETED"}, "emotion": {"label": "joy", "score": 1}})
        done.append(msg)
    store.put_many([queued, *done])
    kept = json.loads(store.path.read_text())["messages"]
    assert len(kept) == KEEP_FINISHED + 1
    assert kept[0]["id"] == queued.id and kept[-1]["id"] == done[-1].id
