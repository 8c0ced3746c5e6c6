"""The real Kivy app (its own process, offscreen or under Xvfb) against firebase-tools' emulators.

The app signs in as a guest with the Auth emulator, types each line of a script into the message
box and presses Send (mobile_app/driver.py), and our function labels each message; the screenshot
of the final window is kept in artifacts/e2e/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.emulator_suite import QUIET_ENV, REPO_ROOT, EmulatorSuite
from tests.e2e.conftest import StoreInfo

pytestmark = [pytest.mark.e2e, pytest.mark.gui]


def test_chat_through_the_real_app_window(suite: EmulatorSuite, model_store: StoreInfo, tmp_path: Path,
                                          artifacts: Path) -> None:
    script = tmp_path / "chat.txt"
    script.write_text("@model default\n"
                      "I finally passed my driving test!\n"
                      "My grandmother is in hospital and I am scared.\n"
                      f"@model {model_store.second}\n"
                      "Thank you so much, you are wonderful.\n")
    shot = artifacts / "app-window.png"
    shot.unlink(missing_ok=True)
    env = {**os.environ, **QUIET_ENV, "KIVY_NO_ARGS": "1", "KIVY_HOME": str(tmp_path / "kivy")}
    cmd = [sys.executable, "-m", "mobile_app", "--emulator", suite.host("firestore"),
           "--auth-emulator", suite.host("auth"), "--project", suite.project,
           "--data-dir", str(tmp_path / "device"), "--size", "480x800",
           "--script", str(script), "--screenshot", str(shot), "--timeout", "90"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=420)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    messages = [r for r in records if "text" in r]
    for r in messages:
        print(f"[app] [{r['model']}] {r['text']!r} -> {r['label']} ({r['state']}, "
              f"served by {r.get('served_by')})")
    assert proc.returncode == 0, f"app exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert len(messages) == 3, records
    for r in messages:
        assert r["state"] == "completed", r
        name = model_store.default if r["model"] == "default" else r["model"]
        assert r["served_by"] == name
        assert r["label"] in model_store.labels[name]
    assert [r["model"] for r in messages] == ["default", "default", model_store.second]
    assert any(r.get("screenshot") == str(shot.resolve()) for r in records), records
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
