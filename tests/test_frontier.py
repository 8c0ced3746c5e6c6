"""benchmarks/frontier.py on the shipped store: every emotion model measured, the frontier marked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / "models" / "store"


def test_the_frontier_measures_every_emotion_model_and_marks_the_undominated(tmp_path: Path) -> None:
    extra = STORE / "distilbert" / "2026-11-25"  # an artifact folder, served from a scratch store
    plot = tmp_path / "frontier.png"
    proc = subprocess.run(
        [sys.executable, "benchmarks/frontier.py", "--artifact", str(extra), "--messages", "5",
         "--repeats", "1", "--plot", str(plot)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows, unseen = {}, {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and "@" in cells[0]:
            rows[cells[0]] = (float(cells[1]), float(cells[3]), cells[6] == "yes")
            unseen[cells[0]] = cells[7]
    names = {ref.split("@")[0] for ref in rows}
    emotion = {p.name for p in STORE.iterdir() if (p / "LATEST").is_file()} - {"goemotions"}
    assert names == emotion  # the multi-label model is another task, not on this frontier
    default = (STORE / "DEFAULT").read_text().strip()
    assert any(ref.startswith(f"{default}@") and "(**default**)" in ref for ref in rows)
    assert "distilbert@2026-11-25 (not published)" in rows
    assert all(p50 > 0 for _, p50, _ in rows.values())
    for ref, (accuracy, p50, front) in rows.items():  # undominated <=> on the frontier
        dominated = any(
            a >= accuracy and t <= p50 and (a, t) != (accuracy, p50) for a, t, _ in rows.values()
        )
        assert front == (not dominated), ref
    assert rows[max(rows, key=lambda r: rows[r][0])][2]  # the most accurate is always on it
    for ref, said in unseen.items():  # the manifest's own word on whether val chose anything
        name, version = ref.split(" ")[0].split("@")
        recorded = json.loads((STORE / name / version / "manifest.json").read_text())["evaluation"]
        assert said == ("yes" if recorded.get("unseen") else "no"), ref
    assert plot.read_bytes()[:4] == b"\x89PNG"
