"""Fixtures for the reliability tier: the function tier's tiny models, stores and servers, reused.

`function_app` (the real entry point) is session-wide in tests/conftest.py; the rest comes from
tests/function/conftest.py so every tier builds its models and stores the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
from chat_emotion import handler
from chat_emotion.handler import Service, Settings
from chat_emotion.store import LocalStore

from tests.function.conftest import (  # noqa: F401  (fixtures, registered by import)
    PROJECT,
    bucket,
    model_store,
    storage_server,
    tiny_artifacts,
)
from tests.support.cloudevents import created_event


@pytest.fixture
def install_service() -> Iterator[Callable[..., Service]]:
    """Install a Service for every event of this process (the entry point's warm instance)."""

    def install(repository: Any, store: LocalStore | None, **settings: Any) -> Service:
        root = str(store.root) if store is not None else ""
        service = Service(repository=repository, store=store,
                          settings=Settings(model_store=root, **settings))
        handler.install(service)
        return service

    yield install
    handler.install(None)


@pytest.fixture
def deliver(function_app: Any) -> Callable[..., int]:
    """POST a real protobuf `document.v1.created` CloudEvent to functions/main.py:classify_message."""
    client = function_app.test_client()

    def send(document: str, fields: dict[str, Any] | None, *, event_id: str | None = None) -> int:
        headers, body = created_event(document, fields, project=PROJECT, event_id=event_id)
        return client.post("/", headers=headers, data=body).status_code

    return send


@pytest.fixture
def run_schedule(function_app: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Call functions/main.py:recover_messages as Cloud Scheduler does: an HTTP POST with its headers.

    functions-framework serves one target per app (and main.py may be loaded once per process),
    so the scheduled function is taken from the module the entry-point app loaded. Its daily
    anonymous cleanup needs the Auth emulator, which this tier does not run: it is off here
    (ANONYMOUS_IDLE_DAYS=0) and shown with the Emulator Suite (tests/e2e/test_cleanup.py).
    """
    monkeypatch.setenv("ANONYMOUS_IDLE_DAYS", "0")
    main = sys.modules["main"]
    app = flask.Flask("scheduler")
    app.add_url_rule("/", "recover_messages", lambda: main.recover_messages(flask.request), methods=["POST"])
    client = app.test_client()

    def run() -> int:
        headers = {"X-CloudScheduler-JobName": "firebase-schedule-recover_messages-us-central1",
                   "X-CloudScheduler-ScheduleTime": "2026-11-25T12:00:00Z"}
        return client.post("/", headers=headers).status_code

    return run
