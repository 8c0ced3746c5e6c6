"""Publish an exported artifact into a model store (a folder or gs://BUCKET/PREFIX).

The store itself (layout, immutable versions, LATEST / DEFAULT pointers, sha256 checks) is
`chat_emotion.store`, the same code the Cloud Function reads with. In a folder store this also writes
a model card, `<name>/<version>/README.md`, generated from the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def model_card(manifest) -> str:
    """A short Markdown model card: what the model is, how it was made, what it scored."""
    ev: dict[str, Any] = manifest.evaluation
    prov: dict[str, Any] = manifest.provenance
    cuts = manifest.thresholds or {}
    lines = [
        f"# {manifest.name} {manifest.version}",
        "",
        f"- architecture: `{manifest.architecture}`, from `{manifest.base_checkpoint}`",
        f"- task: {manifest.problem_type}, labels: {', '.join(manifest.labels)}"
        + (", a threshold per label (below)" if cuts
           else f", threshold {manifest.threshold}" if manifest.threshold is not None else ""),
        f"- ONNX, {manifest.quantization}, max length {manifest.max_length} tokens, "
        f"inputs {', '.join(manifest.input_names)}",
    ]
    if prov.get("description"):
        lines += ["", prov["description"]]
    if "accuracy" in ev:
        lines += [
            "",
            "## Evaluation (this artifact, through the function's runtime)",
            "",
            f"{ev.get('dataset')} [{ev.get('split')}], {ev.get('examples')} examples: accuracy "
            f"{ev['accuracy']:.4f}, macro-F1 {ev['macro_f1']:.4f}; the torch source scored "
            f"{ev.get('source_accuracy', float('nan')):.4f} / {ev.get('source_macro_f1', float('nan')):.4f}. "
            f"Batch-1 latency p50 {ev.get('latency_ms_p50', float('nan')):.1f} ms (1 thread).",
            "",
            unseen_note(ev, prov),
            "",
            *(["| label | F1 | threshold |", "| --- | --- | --- |"] if cuts
              else ["| label | F1 |", "| --- | --- |"]),
            *(f"| {label} | {f1:.4f} |" + (f" {cuts[label]:.2f} |" if cuts else "")
              for label, f1 in ev.get("per_label_f1", {}).items()),
        ]
    lines += ["", "## How it was made", ""]
    for key, title in (("training_command", "train / distill"), ("command", "export")):
        if prov.get(key):
            lines.append(f"- {title}: `{prov[key]}`")
    if prov.get("unfused_from"):  # written by `emotion-train unfuse` before it became a rewrite pass
        was = prov["unfused_from"]
        lines.append(f"- this file: `{was['ref']}`'s graph with its {was['skip_layer_norms_rewritten']} "
                     f"SkipLayerNormalization nodes as Add + LayerNormalization (same weights; what the "
                     f"export above writes today): `{was['command']}`")
    if prov.get("rewritten_from"):
        was = prov["rewritten_from"]
        done = ", ".join(f"{name} ({count} nodes)" for name, count in was["passes"].items() if count)
        lines.append(f"- this file: `{was['ref']}`'s graph rewritten by {done} (same weights; what the "
                     f"export above writes today): `{was['command']}`")
    if prov.get("epoch_seconds"):
        lines.append(f"- seconds per epoch: {', '.join(f'{s:.0f}' for s in prov['epoch_seconds'])}")
    if prov.get("notes"):
        lines.append(f"- notes: {prov['notes']}")
    if prov.get("git_commit"):
        lines.append(f"- code: git {prov['git_commit']}")
    return "\n".join(lines) + "\n"


def unseen_note(evaluation: dict[str, Any], provenance: dict[str, Any]) -> str:
    """Whether the evaluation above is a figure for unseen text, and why (issue 23's rule)."""
    if evaluation.get("unseen"):
        rule = (provenance.get("selection") or {}).get("rule", "a slice held out of train")
        return (f"Scored once, as unseen text: no choice of this run was made on this split "
                f"(the choices' slice: {rule}).")
    return ("Not unseen text: this split also chose this run's epochs, thresholds or candidate, so "
            "the figure flatters it; expect less on text nobody chose on.")


def publish(
    artifact: str | Path,
    store: str,
    *,
    name: str | None = None,
    version: str | None = None,
    make_default: bool = False,
) -> str:
    """Copy `artifact` into `store` as NAME/VERSION, move LATEST (and DEFAULT when asked); returns
    `STORE/NAME/VERSION`."""
    from chat_emotion.store import open_store

    target = open_store(store)
    manifest = target.publish(artifact, name=name, version=version, make_default=make_default)
    if not str(store).startswith("gs://"):
        folder = Path(store) / manifest.name / manifest.version
        (folder / "README.md").write_text(model_card(manifest), encoding="utf-8")
    return f"{str(store).rstrip('/')}/{manifest.name}/{manifest.version}"
