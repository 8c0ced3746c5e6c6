"""benchmarks/cost.py: the owner's bill by part adds up, follows its inputs, and names the biggest part."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import cost  # noqa: E402

MEASURED = ["--onnx-msg-s", "341.3", "--baseline-msg-s", "40.9", "--onnx-ms", "8.1", "--baseline-ms", "18.1",
            "--onnx-cold-s", "1.48", "--baseline-cold-s", "8.71"]


def parts(*extra: str) -> dict[str, float]:
    return cost.bill(cost.parse_args([*MEASURED, *extra]))


def test_each_part_follows_its_own_inputs() -> None:
    base = parts()
    assert base["Firestore writes"] == pytest.approx(1000 * 4 * 0.09 / 100_000)
    assert base["Firestore reads"] == pytest.approx(1000 * 2 * 0.03 / 100_000)
    assert base["invocations"] == pytest.approx(0.40 / 1000)
    # 8.1 ms is billed as 100 ms: one vCPU and 0.25 GiB for 0.1 s, a thousand times.
    assert base["compute"] == pytest.approx(1000 * 0.1 * (0.000024 + 0.25 * 0.0000025))
    assert base["model downloads"] == pytest.approx(15.6 / 1000 * 0.12)
    fewer = parts("--firestore-writes", "3")
    assert fewer["Firestore writes"] == pytest.approx(base["Firestore writes"] * 3 / 4)
    assert {k: v for k, v in fewer.items() if k != "Firestore writes"} == {
        k: v for k, v in base.items() if k != "Firestore writes"}
    assert parts("--model-downloads-per-1000", "0")["model downloads"] == 0


def test_the_report_names_the_biggest_part_and_the_ceilings() -> None:
    command = [sys.executable, "benchmarks/cost.py", *MEASURED, "--model-downloads-per-1000", "50"]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "biggest part: model downloads; to cut it:" in proc.stdout  # 50 downloads outweigh the writes
    assert "ceiling under the defaults: 10 instances busy for 30 days" in proc.stdout
    assert "one person at RATE_PER_DAY=1000 for 30 days: 30,000 messages" in proc.stdout
