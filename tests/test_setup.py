"""The setup's choices, without the network: where torch comes from, which Firestore emulator JAR
is used, and that `make run`'s light install (no torch) is all its path needs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from scripts import emulator_suite
from scripts.torch_source import CPU_INDEX, choose, has_nvidia_gpu
from tests.support import servers

REPO = Path(__file__).resolve().parents[1]


def test_torch_is_the_cpu_build_unless_there_is_a_gpu() -> None:
    assert choose(True, lambda: True) == ([], choose(True, lambda: True)[1])  # GPU: the default build
    assert choose(False, lambda: True)[0] == ["--index-url", CPU_INDEX]
    options, why = choose(False, lambda: False)  # offline mirror: fall back, and say what it means
    assert options == [] and "unreachable" in why and "TORCH_INDEX_URL" in why
    assert choose(False, lambda: True, override="http://mirror/cpu")[0] == ["--index-url", "http://mirror/cpu"]
    assert choose(False, lambda: True, override="")[0] == []


def test_gpu_detection(tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    assert not has_nvidia_gpu(gpus, which=lambda _: None)
    (gpus / "0000:01:00.0").mkdir(parents=True)
    assert has_nvidia_gpu(gpus, which=lambda _: None)
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA T4 (UUID: GPU-x)'\n")
    fake.chmod(0o755)
    assert has_nvidia_gpu(tmp_path / "none", which=lambda _: str(fake))
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed'; exit 9\n")
    assert not has_nvidia_gpu(tmp_path / "none", which=lambda _: str(fake))


def _jar(path: Path, main_class: str | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n"
                    + (f"Main-Class: {main_class}\r\n" if main_class else "") + "\r\n")
    return path


def test_firestore_jar_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = _jar(tmp_path / "mine.jar", None)
    sdk = _jar(tmp_path / "sdk" / "cloud-firestore-emulator.jar", None)
    cache = tmp_path / "cache"
    _jar(cache / "cloud-firestore-emulator-v1.9.0.jar", "x.Main")
    newest = _jar(cache / "cloud-firestore-emulator-v1.22.0.jar", "x.Main")
    monkeypatch.setattr(emulator_suite, "SDK_FIRESTORE_JARS", (str(sdk),))
    monkeypatch.setattr(emulator_suite, "FIREBASE_CACHE", cache)
    monkeypatch.setenv("FIRESTORE_EMULATOR_JAR", str(explicit))
    assert emulator_suite.find_firestore_jar() == explicit
    monkeypatch.delenv("FIRESTORE_EMULATOR_JAR")
    assert emulator_suite.find_firestore_jar() == sdk
    sdk.unlink()
    assert emulator_suite.find_firestore_jar() == newest  # 1.22 after 1.9: versions, not strings
    for jar in cache.iterdir():
        jar.unlink()
    assert emulator_suite.find_firestore_jar() is None
    reason = servers.why_no_firestore_emulator()
    assert reason is not None and emulator_suite.NO_FIRESTORE_JAR in reason
    assert emulator_suite.why_no_suite(need_functions=False) is not None


def test_firestore_command_fits_the_jar(tmp_path: Path) -> None:
    runnable = _jar(tmp_path / "firebase.jar", emulator_suite.FIRESTORE_MAIN_CLASS)
    assert emulator_suite.firestore_command(runnable, "java") == ["java", "-jar", str(runnable)]
    sdk = _jar(tmp_path / "sdk.jar", None)
    assert emulator_suite.firestore_command(sdk, "java") == [
        "java", "-cp", str(sdk), emulator_suite.FIRESTORE_MAIN_CLASS, "start"]


def test_make_run_needs_no_torch() -> None:
    """`make run` installs only the project's core dependencies and the app extra (setup.sh run):
    none of them is torch, and nothing on make run's path imports it."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    light = project["dependencies"] + project["optional-dependencies"]["app"]
    names = {re.split(r"[=<>\[ ]", d)[0].lower() for d in light}
    assert not names & {"torch", "transformers"}
    code = ("import sys; import scripts.run_local, scripts.emulator_suite, mobile_app.app, "
            "mobile_app.__main__, chat_emotion.store; "
            "heavy = sorted(m for m in ('torch', 'transformers', 'training') if m in sys.modules); "
            "print(heavy); sys.exit(bool(heavy))")
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_LOG_MODE": "PYTHON"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
