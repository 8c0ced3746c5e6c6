"""Fixtures for the function's tests: tiny real model artifacts, model stores, the entry point."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_emotion.store import LocalStore

from tests.support.tiny_model import TinyArtifact, build_tiny_artifact

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "demo-emotion"
# Nothing listens on the discard port: the SDK builds a Firestore client per event (FACTS.md) and
# needs an emulator address, but unit-tier tests never let it send a request.
UNUSED_FIRESTORE = "127.0.0.1:9"


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyArtifact]:
    """One single-label (`tiny`, 6 labels) and one multi-label (`tinymulti`, 5 labels) artifact."""
    root = tmp_path_factory.mktemp("artifacts")
    return {
        "single": build_tiny_artifact(root / "tiny", name="tiny", version="v1"),
        "multi": build_tiny_artifact(root / "tinymulti", name="tinymulti", version="v1", multi_label=True),
    }


@pytest.fixture
def model_store(tmp_path: Path, tiny_artifacts: dict[str, TinyArtifact]) -> LocalStore:
    """A fresh folder store: tiny@v1 (the DEFAULT) and tinymulti@v1."""
    store = LocalStore(tmp_path / "store")
    store.publish(tiny_artifacts["single"].directory, make_default=True)
    store.publish(tiny_artifacts["multi"].directory)
    return store


@pytest.fixture(scope="session")
def function_app() -> Iterator[object]:
    """functions-framework's app for functions/main.py:classify_message, created once per session
    (main.py declares Firebase params, and the SDK refuses to declare a param twice in a process)."""
    import functions_framework

    os.environ.setdefault("GCLOUD_PROJECT", PROJECT)
    source = str(REPO_ROOT / "functions" / "main.py")
    yield functions_framework.create_app(
        target="classify_message", source=source, signature_type="cloudevent")


def log_entries(text: str) -> list[dict]:
    """The structured (JSON) log lines in captured output."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return entries
