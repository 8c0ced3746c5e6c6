"""The person's messages on the device: history and outbox in one JSON file, written atomically.

One file per signed-in user under `App.user_data_dir`. Every change is written to a temporary
file, fsynced and renamed over the old one, so a kill at any instant leaves either the old or the
new history, never half of one; a message therefore stays in the outbox until a write that
recorded its delivery has reached the disk.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from mobile_app.messages import Emotion, Message, State

FORMAT_VERSION = 1
# Delivered, finished messages beyond this are dropped from the device (the server keeps them);
# the outbox is never trimmed.
KEEP_FINISHED = 500


def atomic_write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX only)
        dir_fd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_json(path: Path) -> object | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


class MessageStore:
    """Thread-safe: the UI thread adds messages, the sync thread records what the server says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._messages: dict[str, Message] = {}
        raw = read_json(path)
        if isinstance(raw, dict):
            for item in raw.get("messages", []):
                msg = Message.from_json(item)
                self._messages[msg.id] = msg

    @classmethod
    def for_user(cls, data_dir: Path, uid: str) -> MessageStore:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", uid)
        return cls(data_dir / f"messages-{safe}.json")

    def _save(self) -> None:
        ordered = sorted(self._messages.values(), key=_order_key)
        finished = [m for m in ordered if m.state.on_server and m.state.final]
        drop = {m.id for m in finished[:-KEEP_FINISHED]} if len(finished) > KEEP_FINISHED else set()
        for mid in drop:
            del self._messages[mid]
        atomic_write_json(self.path, {"version": FORMAT_VERSION,
                                      "messages": [m.to_json() for m in ordered if m.id not in drop]})

    def add(self, msg: Message) -> None:
        with self._lock:
            if msg.id in self._messages:
                raise ValueError(f"message {msg.id} already stored")
            self._messages[msg.id] = msg
            self._save()

    def get(self, mid: str) -> Message | None:
        with self._lock:
            msg = self._messages.get(mid)
            return Message.from_json(msg.to_json()) if msg else None

    def put(self, msg: Message) -> None:
        """Store a changed copy (callers work on copies, so readers never see half an update)."""
        self.put_many([msg])

    def put_many(self, msgs: Iterable[Message]) -> None:
        with self._lock:
            for msg in msgs:
                self._messages[msg.id] = self._keep_device_label(msg)
            self._save()

    def set_device_emotion(self, mid: str, emotion: Emotion) -> bool:
        """Record the on-device label of `mid`, unless the cloud's already arrived (or it is gone).

        The one writer of `device_emotion`: `put` keeps what is stored, so a copy the sync thread
        took before the device answered cannot undo it."""
        with self._lock:
            msg = self._messages.get(mid)
            if msg is None or msg.emotion is not None:
                return False
            msg.device_emotion = emotion
            self._save()
            return True

    def _keep_device_label(self, msg: Message) -> Message:
        stored = self._messages.get(msg.id)
        if msg.emotion is None and msg.device_emotion is None and stored is not None:
            msg.device_emotion = stored.device_emotion
        elif msg.emotion is not None:
            msg.device_emotion = None  # the cloud's (or in device mode the final) label replaces it
        return msg

    def all(self) -> list[Message]:
        """Copies, oldest first: the history as the chat screen shows it (newest at the bottom)."""
        with self._lock:
            return [Message.from_json(m.to_json()) for m in sorted(self._messages.values(), key=_order_key)]

    def outbox(self) -> list[Message]:
        return [m for m in self.all() if m.state is State.QUEUED]

    def unfinished(self) -> list[Message]:
        """On the server without a final verdict yet: what polling waits for."""
        return [m for m in self.all() if m.state in (State.SENT, State.PROCESSING)]

    def __contains__(self, mid: str) -> bool:
        with self._lock:
            return mid in self._messages


def _order_key(msg: Message) -> tuple[float, str]:
    return (msg.created_local, msg.id)
