"""`make run`'s script, as a person runs it with no display: the conversation, the labels, the
screenshot, then `make stop` from another shell, and nothing left running."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.emulator_suite import QUIET_ENV, REPO_ROOT, _alive, descendants, why_no_suite

pytestmark = [pytest.mark.e2e, pytest.mark.gui]
RUN_LOCAL = REPO_ROOT / "scripts" / "run_local.py"


def test_help() -> None:
    out = subprocess.run([sys.executable, str(RUN_LOCAL), "--help"], capture_output=True, text=True,
                         check=True)
    assert "--headless" in out.stdout and "--stop" in out.stdout


def test_headless_run_labels_a_conversation_and_stop_leaves_nothing(tmp_path: Path, model_store) -> None:
    reason = why_no_suite()
    if reason:
        pytest.skip(reason)
    out_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(QUIET_ENV)
    cmd = [sys.executable, str(RUN_LOCAL), "--free-ports", "--keep", "--out", str(out_dir),
           "--project", "demo-emotion-run", "--model-store", str(model_store.path), "--timeout", "90"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines: list[str] = []
    tree: dict[int, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 420
        for line in proc.stdout:
            lines.append(line.rstrip())
            tree.update(descendants(proc.pid))
            if "keeping the emulators up" in line or time.monotonic() > deadline:
                break
        output = "\n".join(lines)
        assert "keeping the emulators up" in output, output
        labelled = [ln for ln in lines if re.search(r"\] (['\"]).*\1 -> \w+", ln)]
        assert len(labelled) == 6, output  # the conversation: 4 with default, 2 with the second model
        assert all("[completed]" in ln for ln in labelled), output
        assert any(f"[{model_store.second}]" in ln for ln in labelled), output
        assert "conversation: 6 of 6 messages labelled; app exit 0" in output
        shot = out_dir / "screenshot.png"
        assert shot.read_bytes()[:4] == b"\x89PNG"
        assert json.loads((out_dir / "run_local.json").read_text())["pid"] == proc.pid
        # `make stop` from another shell
        stop = subprocess.run([sys.executable, str(RUN_LOCAL), "--stop", "--out", str(out_dir)],
                              capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stdout + stop.stderr
        rest, _ = proc.communicate(timeout=60)
        output += "\n" + rest
        assert proc.returncode == 0, output
        assert "stopped; no process left behind" in output, output
        assert not (out_dir / "run_local.json").exists()
    finally:
        if proc.poll() is None:  # a failed assertion: `--stop` ends the run and what it started
            subprocess.run([sys.executable, str(RUN_LOCAL), "--stop", "--out", str(out_dir)], timeout=180)
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    assert tree, "no child processes were seen"
    assert [pid for pid, start in tree.items() if _alive(pid, start)] == []
