"""benchmarks/op_profile.py on the shipped default: every operator accounted for, the fused
SkipLayerNormalization gone from the default's graph (docs/PERFORMANCE.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def profile(model: str) -> tuple[float, dict[str, float]]:
    proc = subprocess.run([sys.executable, "benchmarks/op_profile.py", "--model", model, "--messages", "20"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    head, *lines = proc.stdout.splitlines()
    run = float(head.split("session run ")[1].split(" ms")[0])
    rows = {}
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("operator", "---"):
            rows[cells[0]] = float(cells[2])
    return run, rows


def test_the_profile_accounts_for_the_whole_run_and_the_default_has_no_fused_layer_norm():
    run, ops = profile("default")
    assert abs(sum(ops.values()) - run) <= 0.01 + 0.02 * run  # kernels + what is outside them = the run
    assert {"QAttention", "LayerNormalization"} <= set(ops) and "SkipLayerNormalization" not in ops
    _, older = profile("minilm-l2@2026-11-25")  # exported before the change: still fused
    assert "SkipLayerNormalization" in older and "LayerNormalization" not in older
