"""The serving instance's own reading of a CloudEvent (chat_emotion.cloudevent) equals the SDK's.

functions/main.py serves the trigger without firebase_functions.firestore_fn when FUNCTION_TARGET
names it (Cloud Run, firebase-tools' emulator, chat_emotion.emulator_adapter); firebase-tools'
discovery still sees the SDK's declaration. Both readings run here on the same real protobuf
events (tests/support/cloudevents.py, as Eventarc sends them) and must give the same MessageEvent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from chat_emotion import cloudevent, handler
from cloudevents.http import from_http

from tests.function.conftest import PROJECT, REPO_ROOT, UNUSED_FIRESTORE
from tests.support.cloudevents import created_event

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
CASES = {
    "message": ("users/alice/messages/m1", {"text": "i feel so happy", "model": "default", "createdAt": NOW}),
    "pinned version": ("users/bob/messages/x", {"text": "ok", "model": "minilm@2026-12-02"}),
    "unicode model and path": ("users/ü 😀/messages/é", {"model": "mod\u00e8le 😀", "text": "x" * 2000}),
    "model not a string": ("users/alice/messages/m2", {"text": "hi", "model": 5}),
    "model a map": ("users/alice/messages/m3", {"text": "hi", "model": {"name": "minilm"}}),
    "no model field": ("users/alice/messages/m4", {"text": "hi", "other": [1, "two", None, 3.5]}),
    "empty document": ("users/alice/messages/m5", {}),
    "foreign path": ("rooms/r1/messages/m1", {"text": "hi", "model": "default"}),
    "long text before the model": ("users/a/messages/b", {"a": "y" * 70000, "model": "bert", "z": True}),
}


def _sdk_reading(raw: object) -> handler.MessageEvent:
    """What main.py's SDK path hands the handler: firestore_fn's wrapper, then sdk_message_event."""
    from firebase_functions import firestore_fn

    seen = []
    wrapped = firestore_fn.on_document_created(document="users/{uid}/messages/{messageId}")(
        lambda event: seen.append(handler.sdk_message_event(event)))
    wrapped(raw)
    return seen[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_serving_path_reads_each_event_as_the_sdk_does(case: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", UNUSED_FIRESTORE)  # the SDK builds a client per event
    monkeypatch.setenv("GCLOUD_PROJECT", PROJECT)
    document, fields = CASES[case]
    headers, body = created_event(document, fields, project=PROJECT, event_id=f"ev-{case}")
    ours, sdk = cloudevent.message_event(from_http(headers, body)), _sdk_reading(from_http(headers, body))
    assert ours == sdk
    assert ours.document == document and ours.event_id == f"ev-{case}" and ours.project == PROJECT
    model = fields.get("model")
    assert ours.model_hint == (model if isinstance(model, str) else None)


def test_a_body_that_is_not_a_document_gives_no_hint() -> None:
    for body in (b"", b"\x0a\x05abc", b"\xff\xff\xff", b"\x0b", "text", None, {"value": {}}):
        assert cloudevent.model_hint(body) is None


def _imported_by_main(target: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "FUNCTION_TARGET"}
    if target:
        env["FUNCTION_TARGET"] = target
    code = ("import sys, json, main; "
            "print(json.dumps({'sdk': sorted(m for m in ('firebase_functions.firestore_fn', "
            "'firebase_functions.params', 'google.cloud.firestore_v1', 'firebase_admin', 'grpc') "
            "if m in sys.modules), "
            "'declared': hasattr(main.classify_message, '__firebase_endpoint__'), "
            "'recovery': 'recover_messages' in vars(main)}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT / "functions", env=env, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_only_the_instance_serving_the_trigger_skips_the_sdk() -> None:
    serving = _imported_by_main("classify_message")
    assert serving == {"sdk": [], "declared": False, "recovery": False}
    for target in (None, "recover_messages"):  # discovery (no target), and the sweep's own instance
        other = _imported_by_main(target)
        assert other["declared"] and other["recovery"]
        assert "firebase_functions.firestore_fn" in other["sdk"]
