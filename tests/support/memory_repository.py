"""An in-memory MessageRepository for the unit tier (no server), and why it may exist.

The unit tier must run where no emulator JAR exists (DESIGN.md, tier 1), but the handler's
writes must be observable. This double implements chat_emotion.repository.MessageRepository with
the same semantics as FirestoreRepository (one lock stands in for the transaction; updates of a
missing document fail). tests/function/test_entry_point.py runs every scenario against this AND
against FirestoreRepository on the official emulator, so any drift between them fails a test.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from typing import Any

from chat_emotion.quota import Usage, Window
from chat_emotion.repository import COMPLETED, ERROR, PROCESSING, Claim, claimable, next_attempt


class MemoryRepository:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.completions = 0
        self.counters: dict[str, dict[str, Any]] = {}
        """Rate-limit documents by path, as FirestoreRepository writes them (day, minute.{key})."""
        self._lock = threading.Lock()

    def create(self, path: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self.documents[path] = copy.deepcopy(fields)

    def get(self, path: str) -> dict[str, Any] | None:
        with self._lock:
            doc = self.documents.get(path)
            return copy.deepcopy(doc) if doc is not None else None

    def delete(self, path: str) -> None:
        with self._lock:
            self.documents.pop(path, None)

    def claim(self, path: str, *, lease_s: float, count: Window | None = None) -> Claim:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            doc = self.documents.get(path)
            if doc is None:
                return Claim("missing")
            data = copy.deepcopy(doc)
            status = doc.get("status")
            if not claimable(status, now, lease_s):
                return Claim("taken", data, status.get("state") if isinstance(status, dict) else None)
            attempt = next_attempt(status)
            doc["status"] = {"state": PROCESSING, "startTime": now, "updateTime": now, "attempts": attempt}
            usage = self._count(count, 1) if count is not None and attempt == 1 else None
            return Claim("claimed", data, attempt=attempt, usage=usage)

    def _count(self, where: Window, step: int) -> Usage:
        counter = self.counters.setdefault(where.document, {"day": 0, "minute": {}})
        counter["day"] += step
        counter["minute"][where.minute_key] = counter["minute"].get(where.minute_key, 0) + step
        counter["expireAt"] = where.expire_at
        return Usage(minute=counter["minute"][where.minute_key], day=counter["day"])

    def refund(self, where: Window) -> None:
        with self._lock:
            self._count(where, -1)

    def _update(self, path: str, state: str, extra: dict[str, Any]) -> bool:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            doc = self.documents.get(path)
            if doc is None:
                return False
            status = doc.setdefault("status", {})
            status.update(state=state, updateTime=now, completeTime=now)
            if "error" in extra:
                status["error"] = extra["error"]
            if "emotion" in extra:
                doc["emotion"] = copy.deepcopy(extra["emotion"])
                self.completions += 1
            return True

    def complete(self, path: str, emotion: dict[str, Any]) -> bool:
        return self._update(path, COMPLETED, {"emotion": emotion})

    def fail(self, path: str, code: str, message: str, *, retry_at: dt.datetime | None = None) -> bool:
        error: dict[str, Any] = {"code": code, "message": message}
        if retry_at is not None:
            error["retryAt"] = retry_at
        return self._update(path, ERROR, {"error": error})
