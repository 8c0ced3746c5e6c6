"""Device: ID tokens that expire while the outbox drains, and answers lost after the write landed,
against the official Firestore emulator → every message stored exactly once.

tests/app/test_emulator.py already covers a send killed after the server had it (restart, no
duplicate) and an outage with the app closed and restarted; tests/app/test_firestore_rest.py
covers one expired token against a scripted server. What the emulator cannot show is expiry: it
ignores `exp`. Here a small proxy in front of the real emulator refuses any token past its `exp`
with Firestore's 401, and drops every fifth answer after forwarding the request (the write
landed, the phone never heard): the app's real outbox, REST client and token refresh go through it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from mobile_app.auth import UnsignedTokens
from mobile_app.firestore_rest import FirestoreClient
from mobile_app.messages import State
from mobile_app.store import MessageStore
from mobile_app.sync import Backoff, SyncEngine
from tests.app.scripted_server import ScriptedServer, Seen, rpc_error
from tests.app.test_sync import wait_until

pytestmark = pytest.mark.emulator
FAST = Backoff(first_s=0.05, factor=2.0, max_s=0.5, jitter=0.0)
MESSAGES = 30
TOKEN_LIFETIME_S = 1


class ShortLivedTokens(UnsignedTokens):
    """Keeps each token until the server refuses it, as FirebaseAuth does; each lives 1 s."""

    def __init__(self, uid: str, project: str) -> None:
        super().__init__(uid, project, lifetime_s=TOKEN_LIFETIME_S)
        self._current: str | None = None
        self._lock = threading.Lock()

    def id_token(self) -> str:
        with self._lock:
            if self._current is None:
                self._current = super().refresh()
            return self._current

    def refresh(self) -> str:
        with self._lock:
            self._current = super().refresh()
            return self._current


def _expired(authorization: str) -> bool:
    payload = authorization.removeprefix("Bearer ").split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["exp"] <= time.time()


class ExpiryProxy:
    """Forwards to the emulator; 401 for an expired token; drops every `drop_every`-th answer."""

    def __init__(self, emulator_url: str, drop_every: int = 5) -> None:
        self.emulator_url, self.drop_every = emulator_url, drop_every
        self.refused = self.dropped = self.forwarded = 0
        self._lock = threading.Lock()

    def __call__(self, req: Seen) -> tuple[int, Any]:
        if _expired(req.headers.get("Authorization", "")):
            with self._lock:
                self.refused += 1
            return rpc_error(401, "UNAUTHENTICATED", "Firebase ID token has expired")
        forward = urllib.request.Request(
            self.emulator_url + req.path, data=req.body or None, method=req.method,
            headers={"Authorization": req.headers["Authorization"], "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(forward, timeout=30) as response:
                status, body = response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            status, body = err.code, json.loads(err.read() or b"{}")
        with self._lock:
            self.forwarded += 1
            drop = req.path.endswith(":commit") and self.forwarded % self.drop_every == 0
            self.dropped += drop
        return (0, None) if drop else (status, body)


def test_expiring_tokens_and_lost_answers_still_store_each_message_once(firestore: Any,
                                                                        tmp_path: Any) -> None:
    proxy = ExpiryProxy(firestore.base_url)
    store = MessageStore.for_user(tmp_path, "alice")
    with ScriptedServer(proxy) as server:
        client = FirestoreClient(server.url, firestore.project, ShortLivedTokens("alice", firestore.project))
        engine = SyncEngine(store, client, send_backoff=FAST, poll_backoff=FAST, sync_history=False).start()
        try:
            sent = []
            for i in range(MESSAGES):
                sent.append(engine.send(f"message {i}", "default"))
                time.sleep(0.1)  # ~3 s in all: each token expires a few times while the outbox drains
            wait_until(lambda: all(store.get(m.id).state is State.SENT for m in sent), timeout=60)
        finally:
            engine.stop()
    status, body = firestore.request("GET", f"{firestore.documents_url}/users/alice/messages?pageSize=300",
                                     headers=firestore.admin_headers)
    assert status == 200, body
    stored = sorted(d["fields"]["text"]["stringValue"] for d in body.get("documents", []))
    assert stored == sorted(f"message {i}" for i in range(MESSAGES))  # each exactly once
    assert proxy.refused >= 2 and proxy.dropped >= 2, vars(proxy)  # the faults really happened
