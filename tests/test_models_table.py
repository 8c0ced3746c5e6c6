"""scripts/models_table.py: the shipped store as TRAINING.md's table, every figure from a manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / "models" / "store"


def test_every_latest_model_is_listed_with_its_manifest_figures():
    proc = subprocess.run([sys.executable, "scripts/models_table.py"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].split(" ")[0]] = cells
    latest = {f"{p.parent.name}@{p.read_text().strip()}" for p in STORE.glob("*/LATEST")}
    assert set(rows) == latest
    default_name = (STORE / "DEFAULT").read_text().strip()
    assert [r for r, cells in rows.items() if "DEFAULT" in cells[0]] == [
        f"{default_name}@{(STORE / default_name / 'LATEST').read_text().strip()}"
    ]
    for ref, cells in rows.items():
        name, version = ref.split("@")
        manifest = json.loads((STORE / name / version / "manifest.json").read_text())
        evaluation = manifest["evaluation"]
        assert cells[2] == f"{evaluation['accuracy']:.4f} / {evaluation['macro_f1']:.4f}", ref
        assert cells[3].startswith("yes" if evaluation.get("unseen") else "no"), ref
        assert manifest["provenance"]["training_command"] in cells[6], ref
