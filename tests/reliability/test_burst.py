"""Burst: 1,000 messages from 20 users through the official Firestore emulator's own trigger
delivery to the real function entry point → 1,000 labels, 0 lost, 0 duplicated, and the time.

Reuses tests/function/test_delivery.py's stack: the emulator (rules loaded) POSTs each Eventarc
event to functions-framework serving functions/main.py behind chat_emotion.emulator_adapter, in a
subprocess with its real settings (FirestoreRepository, tiny models in a folder store). Each
person writes as the app does (REST `:commit`, own ID token, REQUEST_TIME createdAt), 20 at once.
The figure is printed and kept in artifacts/reliability/burst.json.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.function.test_delivery import Stack, stack  # noqa: F401  (the module-scoped fixture)
from tests.support.firestore_rest import commit_create
from tests.support.servers import REPO_ROOT

pytestmark = [pytest.mark.emulator, pytest.mark.heavy]

USERS = int(os.environ.get("BURST_USERS", "20"))
PER_USER = int(os.environ.get("BURST_PER_USER", "50"))
TEXTS = ["i feel so happy today", "this is terrible", "wow what a surprise", "i love you so much",
         "that scared me a lot", "thank you my friends are here"]


def final_states(s: Stack) -> dict[str, dict[str, Any]]:
    """Every message in the emulator (Admin SDK reads, one collection-group query)."""
    from google.cloud import firestore

    os.environ["FIRESTORE_EMULATOR_HOST"] = s.emulator.host
    client = firestore.Client(project=s.emulator.project)
    return {snap.reference.path: snap.to_dict() for snap in client.collection_group("messages").stream()}


def test_burst_of_1000_messages_from_20_users(stack: Stack) -> None:  # noqa: F811
    stack.emulator.reset()
    total = USERS * PER_USER

    def person(u: int) -> list[str]:
        uid, headers = f"burst-user-{u:02d}", stack.emulator.user_headers(f"burst-user-{u:02d}")
        paths = []
        for i in range(PER_USER):
            path = f"users/{uid}/messages/m{i:03d}"
            status, body = commit_create(stack.emulator, path,
                                         {"text": TEXTS[(u + i) % len(TEXTS)], "model": "default"}, headers)
            assert status == 200, body
            paths.append(path)
        return paths

    started = time.monotonic()
    with ThreadPoolExecutor(USERS) as pool:
        sent = [p for paths in pool.map(person, range(USERS)) for p in paths]
    written = time.monotonic() - started
    assert len(set(sent)) == total

    deadline = started + 900
    while True:
        docs = final_states(stack)
        done = [p for p, d in docs.items() if d.get("status", {}).get("state") in ("COMPLETED", "ERROR")]
        if len(done) >= total or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started

    assert set(docs) == set(sent), "a message appeared or vanished"
    states = Counter(d.get("status", {}).get("state") for d in docs.values())
    assert states == {"COMPLETED": total}, (states, stack.function_log.read_text()[-3000:])
    assert all(d["emotion"]["label"] for d in docs.values())
    assert all(d["status"]["attempts"] == 1 for d in docs.values())  # no run died, none was retaken
    # Exactly one classification per message, as the function logged them.
    time.sleep(2)  # room for a (wrong) late redelivery to show up
    per_path = Counter(e["path"] for e in _ok_entries(stack))
    assert set(per_path) == set(sent) and set(per_path.values()) == {1}, per_path.most_common(3)

    figure = {"messages": total, "users": USERS, "labels": len(done), "lost": total - len(done),
              "duplicated": sum(n - 1 for n in per_path.values()), "writes_s": round(written, 1),
              "all_labelled_s": round(elapsed, 1), "messages_per_s": round(total / elapsed, 1),
              "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1)}
    out = REPO_ROOT / "artifacts" / "reliability"
    out.mkdir(parents=True, exist_ok=True)
    (out / "burst.json").write_text(json.dumps(figure, indent=2) + "\n")
    print(f"\n[burst] {json.dumps(figure)}")


def _ok_entries(s: Stack) -> list[dict[str, Any]]:
    from tests.function.conftest import log_entries

    return [e for e in log_entries(Path(s.function_log).read_text(errors="replace"))
            if e.get("code") == "OK"]
