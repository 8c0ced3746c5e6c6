"""What `firebase deploy` would check and upload, checked offline with firebase-tools' own code.

Nothing here reaches Google. `firebase deploy --dry-run` needs a login, so its offline half is run
piecewise: the function manifest the SDK serves on /__/functions.yaml (started exactly as
firebase-tools starts it), turned into a build by firebase-tools, its params resolved from the
production dotenv file that docs/DEPLOY.md tells you to write (so the doc cannot drift), and the
endpoints validated; firebase.json against firebase-tools' schema.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from scripts.emulator_suite import (
    FIREBASE_BIN,
    FUNCTIONS_DIR,
    FUNCTIONS_VENV,
    QUIET_ENV,
    REPO_ROOT,
    free_port,
)

pytestmark = pytest.mark.e2e
DEPLOY_DOC = REPO_ROOT / "docs" / "DEPLOY.md"
DEPLOY_CHECK = REPO_ROOT / "scripts" / "deploy_check.js"
DISCOVERY_LIMIT_S = 10.0  # firebase-tools gives the admin server this long to answer


def _need_venv() -> None:
    if not (FUNCTIONS_DIR / "main.py").is_file():
        pytest.skip("functions/main.py does not exist yet")
    if not (FUNCTIONS_VENV / "bin" / "activate").is_file():
        pytest.skip("functions/venv is missing: run `make setup-e2e`")


def _need_firebase_tools() -> None:
    if shutil.which("node") is None or not FIREBASE_BIN.exists():
        pytest.skip("firebase-tools is not installed in ./node_modules: run `make setup-e2e`")


@pytest.fixture(scope="module")
def manifest_yaml(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, float]:
    """/__/functions.yaml from the SDK's admin server, run the way firebase-tools runs it; (text, seconds)."""
    _need_venv()
    python = "python3.11"  # runtime python311 in firebase.json: firebase-tools runs `python3.11` in the venv
    where = "import firebase_functions, os; print(os.path.dirname(firebase_functions.__file__))"
    sdk = subprocess.run([str(FUNCTIONS_VENV / "bin" / python), "-c", where],
                         capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    env = {**os.environ, **QUIET_ENV, "ADMIN_PORT": str(port)}
    cmd = f'. "{FUNCTIONS_VENV}/bin/activate" && {python} "{sdk}/private/serving.py"'
    started = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", cmd], cwd=FUNCTIONS_DIR, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = started + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/__/functions.yaml", timeout=5) as resp:
                    text = resp.read().decode()
                    elapsed = time.monotonic() - started
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"the SDK's admin server did not answer:\n{out}") from None
                time.sleep(0.1)
        # Ask it to quit as firebase-tools does; on a loaded machine it may be slow to go, and the
        # manifest is already read, so the `finally` below ends it by its process group if need be.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__/quitquitquit", timeout=5):
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    path = tmp_path_factory.mktemp("manifest") / "functions.yaml"
    path.write_text(text)
    return text, elapsed


def test_manifest_declares_the_firestore_trigger(manifest_yaml: tuple[str, float]) -> None:
    text, elapsed = manifest_yaml
    manifest = yaml.safe_load(text)
    assert manifest["specVersion"] == "v1alpha1"
    assert sorted(manifest["endpoints"]) == ["classify_message", "recover_messages"]
    # The recovery sweep (chat_emotion.recovery) runs on Cloud Scheduler.
    assert manifest["endpoints"]["recover_messages"]["scheduleTrigger"]["schedule"]
    ep = manifest["endpoints"]["classify_message"]
    assert ep["entryPoint"] == "classify_message"
    assert ep["platform"] == "gcfv2"
    assert ep["region"] == ["us-central1"]
    trigger = ep["eventTrigger"]
    assert trigger["eventType"] == "google.cloud.firestore.document.v1.created"
    assert trigger["eventFilters"] == {"database": "(default)", "namespace": "(default)"}
    assert trigger["eventFilterPathPatterns"] == {"document": "users/{uid}/messages/{messageId}"}
    assert trigger["retry"] is False  # Python Firestore triggers: the state field is the lock
    assert ep["availableMemoryMb"] == "{{ params.MEMORY_MB }}"
    assert ep["timeoutSeconds"] > 0
    params = {p["name"]: p for p in manifest["params"]}
    assert params["MODEL_STORE"]["type"] == "string"
    assert {"MODEL_STORE", "DEFAULT_MODEL", "MEMORY_MB", "CONCURRENCY", "MIN_INSTANCES",
            "MAX_INSTANCES"} <= set(params)
    # Discovery imports main.py under a 10 s limit: nothing heavy may load at module level.
    assert elapsed < DISCOVERY_LIMIT_S / 2, f"discovery took {elapsed:.1f} s"


def documented_env(doc: Path = DEPLOY_DOC) -> str:
    """The production dotenv block docs/DEPLOY.md shows (the fenced block after `functions/.env.`)."""
    match = re.search(r"```(?:dotenv|ini|sh)?\s*\n# functions/\.env\.[^\n]*\n(.*?)```", doc.read_text(), re.S)
    assert match, f"{doc} has no fenced block starting with '# functions/.env.<project>'"
    return match.group(1)


def deploy_check(manifest: str, env_text: str, tmp_path: Path, config: Path | None = None,
                 project: str = "my-emotion-project") -> tuple[int, dict]:
    _need_firebase_tools()
    (tmp_path / "functions.yaml").write_text(manifest)
    (tmp_path / "env").write_text(env_text)
    cmd = ["node", str(DEPLOY_CHECK), "--project", project, "--manifest", str(tmp_path / "functions.yaml"),
           "--env", str(tmp_path / "env")]
    if config is not None:
        cmd += ["--config", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
                          env={**os.environ, **QUIET_ENV})
    return proc.returncode, json.loads(proc.stdout)


def test_documented_production_params_pass_firebase_tools_deploy_checks(
        manifest_yaml: tuple[str, float], tmp_path: Path) -> None:
    code, result = deploy_check(manifest_yaml[0], documented_env(), tmp_path)
    assert code == 0, result
    assert result["config_errors"] == []
    assert result["params"]["MODEL_STORE"].startswith("gs://")  # the cloud has no models/ folder
    endpoints = {e["id"]: e for e in result["endpoints"]}
    assert sorted(endpoints) == ["classify_message", "recover_messages"]
    assert endpoints["recover_messages"]["timeoutSeconds"] == 540  # validated: 2nd gen allows it
    ep = endpoints["classify_message"]
    assert ep["id"] == "classify_message" and ep["region"] == "us-central1" and ep["platform"] == "gcfv2"
    assert ep["runtime"] == "python311"
    assert ep["availableMemoryMb"] in (512, 1024, 2048)
    assert ep["eventTrigger"]["eventType"] == "google.cloud.firestore.document.v1.created"


def test_deploy_checks_catch_bad_params(manifest_yaml: tuple[str, float], tmp_path: Path) -> None:
    env = documented_env()
    bad_memory = re.sub(r"(?m)^MEMORY_MB=.*$", "MEMORY_MB=1000", env)
    code, result = deploy_check(manifest_yaml[0], bad_memory, tmp_path)
    assert code == 1 and "memory" in result["error"].lower()
    missing = "\n".join(line for line in env.splitlines() if not line.startswith("MODEL_STORE="))
    code, result = deploy_check(manifest_yaml[0], missing, tmp_path)
    assert code == 1 and "MODEL_STORE" in result["error"]  # a non-interactive deploy needs every value


def test_firebase_json_passes_firebase_tools_schema(manifest_yaml: tuple[str, float], tmp_path: Path) -> None:
    code, result = deploy_check(manifest_yaml[0], documented_env(), tmp_path)
    assert code == 0 and result["config_errors"] == []
    broken = json.loads((REPO_ROOT / "firebase.json").read_text())
    broken["emulators"]["firestore"]["prot"] = 8080
    (tmp_path / "firebase.json").write_text(json.dumps(broken))
    code, result = deploy_check(manifest_yaml[0], documented_env(), tmp_path,
                                config=tmp_path / "firebase.json")
    assert code == 1 and result["config_errors"], result
