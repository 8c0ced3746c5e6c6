"""benchmarks/device_matrix.py's device side on the shipped artifacts (the cloud side needs the
Emulator Suite and runs as the benchmark itself: docs/APP.md "On the device")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_device_side_measures_each_model_and_its_agreement_with_the_cloud(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text(
        "i am so happy today;joy\ni feel so alone;sadness\nhow dare you;anger\n"
        "that scared me to death;fear\nwhat a surprise;surprise\n"
    )
    figures = tmp_path / "matrix.json"
    default = (REPO / "models" / "store" / "DEFAULT").read_text().strip()
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/device_matrix.py",
            "--no-cloud",
            "--models",
            "distilbert",
            default,
            "--messages",
            "20",
            "--profiles",
            "here=1,slow=10",
            "--agreement",
            str(texts),
            "--json",
            str(figures),
            "--plot",
            str(tmp_path / "matrix.png"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(figures.read_text())
    rows = {(r["name"], r["engine"]): r for r in result["device"]}
    assert set(rows) == {(m, e) for m in ("distilbert", default) for e in ("onnxruntime", "numpy")}
    # The cloud's own model gives the cloud's labels, on either engine.
    assert rows[default, "onnxruntime"]["agreement"] == rows[default, "numpy"]["agreement"] == 1.0
    assert rows["distilbert", "numpy"]["agreement"] == rows["distilbert", "onnxruntime"]["agreement"]
    for row in rows.values():
        assert (
            0 < row["p50_ms"] <= row["p95_ms"] and row["cpu_ms"] > 0 and row["peak_mb"] > row["model_mb"] > 0
        )
        assert 0.5 < row["accuracy"] <= 1.0 and row["artifact_mb"] > 1.0
    # onnxruntime alone is over 100 MB installed; numpy is part of it
    sizes = result["runtime_mb"]
    assert sizes["onnxruntime"] > 50 and 0 < sizes["numpy"] < sizes["onnxruntime"]
    assert "| here p50 ms | slow p50 ms |" in proc.stdout
    assert (tmp_path / "matrix.png").read_bytes()[:4] == b"\x89PNG"
