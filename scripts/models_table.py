"""The shipped models as one Markdown table, from their manifests: what docs/TRAINING.md quotes.

For each name's LATEST version (and the DEFAULT, when it is another version): the selection slice's
figure (the torch checkpoint on the slice held out of train that made the run's choices, when there
was one), the validation figure of the int8 artifact through the function's runtime and whether it
is unseen (nothing of the run was chosen on it), model.onnx's size, the batch-1 p50 export measured
(1 thread, on the machine that exported it; `benchmarks/frontier.py` measures the whole message
side by side), and the training command. Reads only the store, so it needs no torch.

    .venv/bin/python scripts/models_table.py
    .venv/bin/python scripts/models_table.py --store models/store --all-versions
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions"))

from chat_emotion.artifact import MODEL_FILE, Manifest  # noqa: E402
from chat_emotion.store import LocalStore  # noqa: E402


def _figure(scores: dict | None) -> str:
    if not scores or "accuracy" not in scores:
        return "—"
    return f"{scores['accuracy']:.4f} / {scores['macro_f1']:.4f}"


def rows(store: Path, all_versions: bool = False) -> list[dict[str, str]]:
    default = LocalStore(store).resolve("default") if (store / "DEFAULT").is_file() else None
    out = []
    for latest in sorted(store.glob("*/LATEST")):
        name_dir = latest.parent
        head = latest.read_text(encoding="utf-8").strip()
        versions = sorted(v.name for v in name_dir.iterdir() if v.is_dir()) if all_versions else [head]
        if default and default[0] == name_dir.name and default[1] not in versions:
            versions.append(default[1])
        for version in versions:
            manifest = Manifest.load(name_dir / version)
            evaluation, provenance = manifest.evaluation, manifest.provenance
            is_default = (name_dir.name, version) == default
            marks = [m for m, on in (("LATEST", version == head), ("DEFAULT", is_default)) if on]
            out.append({
                "model": f"{name_dir.name}@{version}" + (f" ({', '.join(marks)})" if marks else ""),
                "slice": _figure(provenance.get("selection")),
                "val": _figure(evaluation),
                "unseen": "yes" if evaluation.get("unseen") else "no: val chose too",
                "mb": f"{(name_dir / version / MODEL_FILE).stat().st_size / 2**20:.1f}",
                "p50": f"{evaluation['latency_ms_p50']:.2f}" if "latency_ms_p50" in evaluation else "—",
                "recipe": f"`{provenance.get('training_command', '')}`",
            })
    return out


def table(found: list[dict[str, str]]) -> str:
    lines = [
        "| model | selection slice, torch (acc / macro-F1) | val, int8 (acc / macro-F1) | val unseen | "
        "model.onnx MB | export's p50 ms | recipe |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {r['model']} | {r['slice']} | {r['val']} | {r['unseen']} | {r['mb']} | {r['p50']} | "
              f"{r['recipe']} |" for r in found]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/models_table.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=REPO / "models" / "store",
                        help="folder store to read (default models/store)")
    parser.add_argument("--all-versions", action="store_true", help="every version, not each name's LATEST")
    args = parser.parse_args(argv)
    print(table(rows(args.store, args.all_versions)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
