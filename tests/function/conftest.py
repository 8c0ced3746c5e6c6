"""Fixtures for the function's tests: tiny real model artifacts, model stores, the entry point."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_emotion.store import LocalStore

from tests.support.servers import free_port, stop_process_group
from tests.support.tiny_model import TinyArtifact, build_tiny_artifact

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_as_discovery(code: str) -> str:
    """stdout of `code` run in functions/ as firebase-tools' deploy discovery runs main.py: a fresh
    interpreter without FUNCTION_TARGET."""
    env = {k: v for k, v in os.environ.items() if k != "FUNCTION_TARGET"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=REPO_ROOT / "functions", env=env, timeout=120).stdout
PROJECT = "demo-emotion"
_bucket_counter = itertools.count()
# Nothing listens on the discard port: the SDK builds a Firestore client per event and
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


def log_entries(text: str) -> list[dict]:
    """The structured (JSON) log entries in captured output.

    firebase_functions.logger prints the object and its newline in two writes, so entries logged
    by concurrent requests can share a line (`{...}{...}`) and leave empty ones: every complete
    object is read. Lines split on "\n" only (str.splitlines also splits at U+0085 and U+2028,
    which JSON leaves unescaped inside a path).
    """
    decoder = json.JSONDecoder()
    entries = []
    for line in text.split("\n"):
        line = line.strip()
        at = 0 if line.startswith("{") else -1
        while at != -1:
            try:
                entry, end = decoder.raw_decode(line, at)
            except json.JSONDecodeError:
                break
            if isinstance(entry, dict):
                entries.append(entry)
            at = line.find("{", end)
    return entries


@pytest.fixture(scope="session")
def storage_server() -> Iterator[str]:
    """A real local Cloud Storage server (PyPI gcp-storage-emulator), in memory, on a free port."""
    exe = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent)) or shutil.which(
        "gcp-storage-emulator")
    if exe is None:
        pytest.skip("gcp-storage-emulator (PyPI) is not installed")
    port = free_port()
    proc = subprocess.Popen([exe, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gcp-storage-emulator did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(proc)


@pytest.fixture
def bucket(storage_server: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_server)
    from chat_emotion.store import storage_client

    # One bucket per test: a legal bucket name from the test's name, plus a counter for reruns.
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"models-{slug}-{next(_bucket_counter)}"
    storage_client().create_bucket(name)
    return name
