"""Where messages live: the three writes the function makes, behind a small interface.

The handler talks to `MessageRepository` only. Production and the emulator tier use
`FirestoreRepository` (google-cloud-firestore, Admin privileges, so security rules do not apply);
the unit tier swaps in a test double (tests/support/memory_repository.py) and the very same
scenarios run against the real emulator, so the double cannot drift from Firestore.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from chat_emotion.quota import Usage, Window

ClaimKind = Literal["claimed", "missing", "taken"]

PROCESSING, COMPLETED, ERROR = "PROCESSING", "COMPLETED", "ERROR"
_CLAIM_ATTEMPTS = 8


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to claim a message for classification.

    claimed: this run owns it (status set to PROCESSING); `data` is the document as it stood.
    missing: the document no longer exists (deleted before processing).
    taken:   another delivery already claimed or finished it; `state` says which.

    `attempt` counts the claims of this message, this one included (status.attempts): a claim
    that takes over a dead run's lease is attempt 2, 3, ... and the handler gives up past a bound.
    `usage`: the sender's rate-limit counters after this message, when the claim counted it (its
    first claim, with a `count` window); None otherwise.
    """

    kind: ClaimKind
    data: dict[str, Any] | None = None
    state: str | None = None
    attempt: int = 0
    usage: Usage | None = None


class MessageRepository(Protocol):
    def claim(self, path: str, *, lease_s: float, count: Window | None = None) -> Claim:
        """Atomically set status PROCESSING unless the message has a status (younger than
        `lease_s` when PROCESSING: an older claim belongs to a run that died, and is taken over).
        With `count`, a first claim also counts the message in that rate-limit window, in the
        same atomic write (chat_emotion.quota)."""
        ...

    def refund(self, where: Window) -> None:
        """Take one message back out of `where`'s counters (it was refused, not classified)."""
        ...

    def complete(self, path: str, emotion: dict[str, Any]) -> bool:
        """Set status COMPLETED and `emotion`; False when the message no longer exists."""
        ...

    def fail(self, path: str, code: str, message: str, *, retry_at: dt.datetime | None = None) -> bool:
        """Set status ERROR with {code, message} (and retryAt); False when the message no longer exists."""
        ...


def claimable(status: object, now: dt.datetime, lease_s: float) -> bool:
    """Whether a message with this `status` value may be claimed at `now` (shared by every repository)."""
    if status is None:
        return True
    if not isinstance(status, dict) or status.get("state") != PROCESSING:
        return False
    started = status.get("startTime")
    if not isinstance(started, dt.datetime):
        return False
    return (now - started).total_seconds() > lease_s


def next_attempt(status: object) -> int:
    """The attempt number a claim of a message with this (claimable) `status` becomes."""
    if not isinstance(status, dict):
        return 1
    previous = status.get("attempts")
    # A claim written before attempts were counted was one attempt.
    return (previous if isinstance(previous, int) and not isinstance(previous, bool) else 1) + 1


class FirestoreRepository:
    """Messages in Cloud Firestore through google-cloud-firestore.

    Against FIRESTORE_EMULATOR_HOST the client sends `Bearer owner`, the emulator's stand-in for
    Admin privileges; in the cloud it uses the function's service account.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        return self._client

    @classmethod
    def for_database(cls, project: str, database: str = "(default)") -> FirestoreRepository:
        return cls(_client(project, database))

    def claim(self, path: str, *, lease_s: float, count: Window | None = None) -> Claim:
        from google.api_core import exceptions
        from google.cloud import firestore

        ref = self._client.document(path)
        # Compare-and-set rather than a read-write transaction: the write carries the update time
        # the read saw as its precondition, so of several deliveries exactly one claim lands and
        # the others fail it, read again and step aside. No document lock is held between the read
        # and the write, so concurrent deliveries cannot queue on one lock (the emulator's
        # transactions did, for over a minute at five deliveries), and it is one RPC fewer.
        for attempt in range(_CLAIM_ATTEMPTS):
            snapshot = ref.get()
            if not snapshot.exists:
                return Claim("missing")
            data = snapshot.to_dict() or {}
            status = data.get("status")
            if not claimable(status, dt.datetime.now(dt.UTC), lease_s):
                return Claim("taken", data, status.get("state") if isinstance(status, dict) else None)
            claim_number = next_attempt(status)
            batch = self._client.batch()
            batch.update(
                ref,
                {"status": {"state": PROCESSING, "startTime": firestore.SERVER_TIMESTAMP,
                            "updateTime": firestore.SERVER_TIMESTAMP, "attempts": claim_number}},
                option=self._client.write_option(last_update_time=snapshot.update_time),
            )
            counted = count is not None and claim_number == 1
            if counted:
                # In the same commit: counted if and only if claimed (a duplicate's batch fails whole).
                self._count(batch, count, 1)
            try:
                results = batch.commit()
            except exceptions.NotFound:
                return Claim("missing")
            except exceptions.FailedPrecondition:
                # Another delivery wrote first; the next read sees its claim. The jitter only
                # spreads out re-reads of a document several deliveries race on.
                time.sleep(min(0.01 * 2**attempt, 0.2) * random.uniform(0.5, 1.5))
                continue
            return Claim("claimed", data, attempt=claim_number,
                         usage=_usage(results[1]) if counted else None)
        raise RuntimeError(f"could not claim {path}: it changed under each of {_CLAIM_ATTEMPTS} reads")

    def _count(self, batch: Any, where: Window, step: int) -> None:
        from google.cloud import firestore

        # Transforms come back sorted by field path: `day`, then `minute.<key>` (see _usage).
        batch.set(self._client.document(where.document),
                  {"day": firestore.Increment(step), "minute": {where.minute_key: firestore.Increment(step)},
                   "expireAt": where.expire_at}, merge=True)

    def refund(self, where: Window) -> None:
        batch = self._client.batch()
        self._count(batch, where, -1)
        batch.commit()

    def _update(self, path: str, fields: dict[str, Any]) -> bool:
        from google.api_core import exceptions

        try:
            # update() requires the document to exist: a message deleted meanwhile stays deleted.
            self._client.document(path).update(fields)
        except exceptions.NotFound:
            return False
        return True

    def complete(self, path: str, emotion: dict[str, Any]) -> bool:
        from google.cloud import firestore

        return self._update(path, {
            "status.state": COMPLETED,
            "status.updateTime": firestore.SERVER_TIMESTAMP,
            "status.completeTime": firestore.SERVER_TIMESTAMP,
            "emotion": emotion,
        })

    def fail(self, path: str, code: str, message: str, *, retry_at: dt.datetime | None = None) -> bool:
        from google.cloud import firestore

        error: dict[str, Any] = {"code": code, "message": message}
        if retry_at is not None:
            error["retryAt"] = retry_at
        return self._update(path, {
            "status.state": ERROR,
            "status.updateTime": firestore.SERVER_TIMESTAMP,
            "status.completeTime": firestore.SERVER_TIMESTAMP,
            "status.error": error,
        })


def _usage(result: Any) -> Usage:
    """The counters' new values from the counting write's transform results (day, then minute)."""
    day, minute = (value.integer_value for value in result.transform_results)
    return Usage(minute=int(minute), day=int(day))


_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


def _client(project: str, database: str) -> Any:
    """One client per (project, database) per process: channels are costly to open on every event."""
    from google.cloud import firestore

    with _clients_lock:
        key = (project, database)
        if key not in _clients:
            _clients[key] = firestore.Client(project=project, database=database)
        return _clients[key]
