"""scripts/emulator_suite.py's pieces that need no firebase-tools: the derived config and the JAR shim."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from scripts.emulator_suite import (
    FIRESTORE_MAIN_CLASS,
    PORT_KEYS,
    REPO_ROOT,
    EmulatorSuite,
    find_firestore_jar,
    find_java_home,
    free_port,
)
from tests.support.servers import stop_process_group


def test_derived_config_keeps_the_repository_config_and_moves_ports_and_params() -> None:
    ports = {key: 20000 + i for i, key in enumerate(PORT_KEYS)}
    suite = EmulatorSuite(ports=ports, tag="unit-config", params={"MODEL_STORE": "/tmp/store x"},
                          only=("auth", "firestore", "functions"))
    suite.port_map = suite._choose_ports()
    try:
        suite._write_config()
        derived = json.loads(suite.config_path.read_text())
        base = json.loads((REPO_ROOT / "firebase.json").read_text())
        assert suite.config_path.parent == REPO_ROOT  # the project folder: sources and rules resolve there
        assert derived["firestore"] == base["firestore"] and derived["storage"] == base["storage"]
        [fn] = derived["functions"]
        assert {k: v for k, v in fn.items() if k != "configDir"} == base["functions"][0]
        assert not Path(fn["configDir"]).is_absolute() and ".." not in fn["configDir"]
        assert (REPO_ROOT / fn["configDir"] / ".env.local").read_text() == "MODEL_STORE=/tmp/store x\n"
        em = derived["emulators"]
        assert em["firestore"] == {"host": "127.0.0.1", "port": ports["firestore"],
                                   "websocketPort": ports["firestore_ws"]}
        assert em["auth"]["port"] == ports["auth"] and em["hub"]["port"] == ports["hub"]
        assert "storage" not in em and em["ui"] == {"enabled": False}
        assert all(v.get("host", "127.0.0.1") == "127.0.0.1" for v in em.values() if isinstance(v, dict))
        assert suite.command()[1:3] == ["emulators:start", "--config"]
    finally:
        suite.config_path.unlink(missing_ok=True)
        shutil.rmtree(suite.workdir, ignore_errors=True)


@pytest.mark.emulator
def test_manifest_only_jar_runs_the_cloud_sdk_firestore_emulator(tmp_path: Path) -> None:
    """What firebase-tools runs offline (`java -jar` on FIRESTORE_EMULATOR_BINARY_PATH)."""
    from scripts.emulator_suite import write_firestore_shim

    jar, java_home = find_firestore_jar(), find_java_home()
    if jar is None or java_home is None:
        pytest.skip("no Cloud Firestore emulator JAR or no Java >= 21 here")
    shim = write_firestore_shim(tmp_path / "shim.jar", jar)
    with zipfile.ZipFile(shim) as zf:
        assert zf.namelist() == ["META-INF/MANIFEST.MF"]
        manifest = zf.read("META-INF/MANIFEST.MF").decode()
    assert f"Main-Class: {FIRESTORE_MAIN_CLASS}" in manifest and f"Class-Path: {jar.as_uri()}" in manifest
    port = free_port()
    proc = subprocess.Popen([str(java_home / "bin" / "java"), "-jar", str(shim), "start", "--host=127.0.0.1",
                             f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=1) as resp:
                    assert resp.read().strip() == b"Ok"
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.2)
    finally:
        stop_process_group(proc)  # its own process group (start_new_session)
