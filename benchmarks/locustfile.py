"""Locust load on the function's HTTP endpoint, and through it the Firestore emulator.

Each simulated user, in a loop: creates a message document in the Firestore emulator (REST, as
Admin: not part of the figures' subject, reported as "create document"), then POSTs the real
`document.v1.created` CloudEvent (binary mode, protobuf body, as Eventarc delivers it) to the
function, which claims the message in a transaction, classifies it and writes status + emotion
back to the emulator before answering ("classify (function)"). A response is a failure unless it
is 200; the write-back is checked on a sample of messages (--check-every).

Started by benchmarks/locust_run.py, which brings up the emulator and the function server and
passes FIRESTORE_HOST / FIRESTORE_PROJECT in the environment:

    locust -f benchmarks/locustfile.py --headless -u 16 -r 16 -t 30s --host http://127.0.0.1:PORT
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

from locust import HttpUser, constant, task

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.cloudevents import created_event  # noqa: E402
from tests.support.firestore_rest import encode  # noqa: E402

FIRESTORE = os.environ.get("FIRESTORE_HOST", "127.0.0.1:8080")
PROJECT = os.environ.get("FIRESTORE_PROJECT", "demo-benchmark")
CHECK_EVERY = int(os.environ.get("CHECK_EVERY", "20"))
DOCUMENTS = f"http://{FIRESTORE}/v1/projects/{PROJECT}/databases/(default)/documents"
TEXTS_FILE = REPO_ROOT.parent / "shared" / "data" / "emotion" / "val.txt"
TEXTS = (
    [line.rsplit(";", 1)[0] for line in TEXTS_FILE.read_text().splitlines() if ";" in line]
    if TEXTS_FILE.is_file()
    else ["i feel wonderful today", "this is so frustrating", "i am scared"]
)


class ChatUser(HttpUser):
    """One chat user: write a message, deliver its created-event to the function."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.uid = f"u{uuid.uuid4().hex[:8]}"
        self.sent = 0

    @task
    def message(self) -> None:
        self.sent += 1
        message_id = uuid.uuid4().hex
        path = f"users/{self.uid}/messages/{message_id}"
        fields = {"text": TEXTS[hash(message_id) % len(TEXTS)], "model": "default"}
        self.client.post(
            f"{DOCUMENTS}/users/{self.uid}/messages?documentId={message_id}",
            json={"fields": {k: encode(v) for k, v in fields.items()}},
            headers={"Authorization": "Bearer owner"},
            name="create document",
        )
        headers, body = created_event(path, fields, project=PROJECT)
        with self.client.post(
            "/", data=body, headers=headers, name="classify (function)", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            if self.sent % CHECK_EVERY == 0:
                doc = self.client.get(
                    f"{DOCUMENTS}/{path}", headers={"Authorization": "Bearer owner"}, name="check write-back"
                ).json()
                state = (
                    doc.get("fields", {})
                    .get("status", {})
                    .get("mapValue", {})
                    .get("fields", {})
                    .get("state", {})
                    .get("stringValue")
                )
                if state != "COMPLETED":
                    response.failure(f"message ended {state!r}, not COMPLETED")
