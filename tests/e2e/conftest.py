"""The end-to-end tier: the Firebase Emulator Suite (firebase-tools) running our real function.

One suite per test session (Auth, Firestore, Functions; Storage where its rules runtime exists),
on free ports, with a firebase config derived from the repository's (scripts/emulator_suite.py).
Skipped, with the reason, where firebase-tools, node, Java >= 21 or the Firestore JAR is missing.

Models: the repository's store (models/store) when it holds a default model and a second one;
until then two tiny random-weight artifacts (tests/support/tiny_model.py) published into a
temporary folder store with chat_emotion.store. The suite's function reads them as production
does: published with `python -m training publish ... --store gs://BUCKET/models` into a local
Cloud Storage API (gcp-storage-emulator), and MODEL_STORE=gs://BUCKET/models. `make run`'s test
(test_run_local.py) covers the folder store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.emulator_suite import QUIET_ENV, REPO_ROOT, EmulatorSuite, free_port, why_no_suite
from tests.support.servers import stop_process_group

REPO_STORE = REPO_ROOT / "models" / "store"
ARTIFACTS = REPO_ROOT / "artifacts" / "e2e"
FINAL_STATES = ("COMPLETED", "ERROR")


@dataclass(frozen=True)
class StoreInfo:
    path: Path
    default: str                 # the default model's name
    second: str                  # another model, used by name
    labels: dict[str, list[str]]  # model name -> its labels
    tiny: bool                   # tiny random-weight artifacts (predictable labels)


def _labels(store: Path, name: str) -> list[str]:
    import json

    version = (store / name / "LATEST").read_text().strip()
    return list(json.loads((store / name / version / "manifest.json").read_text())["labels"])


def _repo_store() -> StoreInfo | None:
    if not (REPO_STORE / "DEFAULT").is_file():
        return None
    default = (REPO_STORE / "DEFAULT").read_text().strip().split("@")[0]
    from mobile_app.messages import MODELS  # the app's model picker offers only these names

    # The multi-label GoEmotions model first, as `make run` picks it (scripts/run_local.py).
    others = sorted((p.parent.name for p in REPO_STORE.glob("*/LATEST")
                     if p.parent.name != default and p.parent.name in MODELS),
                    key=lambda name: (name != "goemotions", name))
    if not others or not (REPO_STORE / default / "LATEST").is_file():
        return None
    return StoreInfo(REPO_STORE, default, others[0],
                     {n: _labels(REPO_STORE, n) for n in (default, others[0])}, tiny=False)


def _tiny_store(root: Path) -> StoreInfo:
    from chat_emotion.store import LocalStore

    from tests.support.tiny_model import MULTI_LABELS, SINGLE_LABELS, build_tiny_artifact

    store = root / "store"
    store.mkdir(parents=True)
    local = LocalStore(store)
    a = build_tiny_artifact(root / "minilm", name="minilm", version="e2e")
    local.publish(a.directory, make_default=True)
    b = build_tiny_artifact(root / "bert", name="bert", version="e2e", multi_label=True, seed=1)
    local.publish(b.directory)
    return StoreInfo(store, "minilm", "bert", {"minilm": SINGLE_LABELS, "bert": MULTI_LABELS}, tiny=True)


@pytest.fixture(scope="package")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> StoreInfo:
    reason = why_no_suite()
    if reason:
        pytest.skip(reason)
    if os.environ.get("E2E_TINY_MODELS") != "1":
        repo = _repo_store()
        if repo is not None:
            return repo
    return _tiny_store(tmp_path_factory.mktemp("e2e-models"))


@pytest.fixture(scope="package")
def cloud_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Cloud Storage API on 127.0.0.1 (PyPI gcp-storage-emulator): STORAGE_EMULATOR_HOST's value.

    firebase-tools' own Storage emulator cannot run offline (its rules runtime is a download).
    """
    exe = Path(sys.executable).parent / "gcp-storage-emulator"
    if not exe.is_file():
        pytest.skip("gcp-storage-emulator is not installed (make setup)")
    port = free_port()
    log = open(tmp_path_factory.mktemp("gcs") / "gcs.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(exe), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    host = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{host}/storage/v1/b?project=x", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gcp-storage-emulator did not start ({log.name})") from None
                time.sleep(0.2)
        yield host
    finally:
        stop_process_group(proc)
        log.close()


@pytest.fixture(scope="package")
def cloud_model_store(model_store: StoreInfo, cloud_storage: str) -> str:
    """The models published to gs://BUCKET/models with the training CLI, as docs/DEPLOY.md says."""
    env = {**os.environ, **QUIET_ENV, "STORAGE_EMULATOR_HOST": cloud_storage}
    bucket = f"e2e-models-{os.getpid()}"
    subprocess.run([sys.executable, "-c", "from chat_emotion.store import storage_client; "
                    f"storage_client().create_bucket({bucket!r})"], env=env, check=True, cwd=REPO_ROOT)
    uri = f"gs://{bucket}/models"
    for name in (model_store.default, model_store.second):
        version = (model_store.path / name / "LATEST").read_text().strip()
        cmd = [sys.executable, "-m", "training", "publish", str(model_store.path / name / version),
               "--store", uri, *(["--default"] if name == model_store.default else [])]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
        assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout}\n{out.stderr[-3000:]}"
    return uri


@pytest.fixture(scope="package")
def suite(cloud_model_store: str, cloud_storage: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorSuite]:
    """The suite, the function reading its models from gs:// as in production (MODEL_STORE param).

    firebase-tools' Storage emulator is left out: where it runs, firebase-tools points the
    function's STORAGE_EMULATOR_HOST at it instead of the bucket the models were published to.
    """
    reason = why_no_suite()
    if reason:
        pytest.skip(reason)
    log_dir = tmp_path_factory.mktemp("e2e-suite")
    s = EmulatorSuite(project="demo-emotion-e2e", ports="free", tag=f"e2e-{os.getpid()}",
                      only=("auth", "firestore", "functions"),
                      params={"MODEL_STORE": cloud_model_store}, env={"STORAGE_EMULATOR_HOST": cloud_storage},
                      log_path=log_dir / "emulators.log", sweep_every_s=3, sweep_after_s=15)
    started = time.monotonic()
    s.start()
    if not s.function_loaded():
        s.wait_for_line("classify_message]: firestore function initialized", timeout=60)
    print(f"\n[e2e] Emulator Suite up in {time.monotonic() - started:.0f} s: {s.only}; log {s.log_path}")
    try:
        yield s
    finally:
        s.stop()
        left = s.leftovers()
        assert not left, f"processes left behind by the Emulator Suite: {left}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
