"""Session-wide fixtures shared by every tier."""

from __future__ import annotations

import os

# Never probe the metadata server (169.254.169.254): set before google.auth is imported.
os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("METADATA_SERVER_DETECTION", "none")

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from tests.support.servers import REPO_ROOT, FirestoreEmulator, why_no_firestore_emulator  # noqa: E402


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory):
    """The official Firestore emulator with firestore.rules loaded; skipped with the reason where absent."""
    reason = why_no_firestore_emulator()
    if reason:
        pytest.skip(reason)
    emulator = FirestoreEmulator(log_path=tmp_path_factory.mktemp("firestore") / "emulator.log")
    with emulator:
        yield emulator


@pytest.fixture
def firestore(firestore_emulator):
    """The session's emulator, emptied before each test."""
    firestore_emulator.reset()
    return firestore_emulator


@pytest.fixture(scope="session")
def function_app() -> Iterator[object]:
    """functions-framework's app for functions/main.py:classify_message, created once per session
    for every tier (main.py declares Firebase params, and the SDK refuses to declare a param twice
    in a process)."""
    import functions_framework

    os.environ.setdefault("GCLOUD_PROJECT", "demo-emotion")
    source = str(REPO_ROOT / "functions" / "main.py")
    # create_app names the target in os.environ (FUNCTION_TARGET & co.), as an instance's
    # environment does; put it back so the subprocesses tests start inherit nothing of it.
    saved = dict(os.environ)
    app = functions_framework.create_app(target="classify_message", source=source,
                                         signature_type="cloudevent")
    os.environ.clear()
    os.environ.update(saved)
    yield app
