"""Rewrite an exported artifact's SkipLayerNormalization nodes as Add + LayerNormalization.

Artifacts exported before 2026-12-04 carry ONNX Runtime's fused SkipLayerNormalization (residual
add + bias + LayerNorm in one contrib operator). On ONNX Runtime 1.32's CPU kernels that operator
takes ~3x as long as the Add and LayerNormalization it replaces (docs/PERFORMANCE.md), so `export`
no longer fuses it. This turns an already-exported artifact into a new version with the same weights
and the unfused graph, without its torch checkpoint. Versions are immutable: the result is a new
artifact folder, for `publish`.

The gate, as for `export`: the new model is loaded through the function's runtime and its decisions
compared with the source artifact's, one text per call; with evaluation data, its accuracy and
macro-F1 must also be at least the source's on the same texts. Otherwise nothing is written.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.data import load_dataset
from training.export import (
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_TOLERANCE,
    PROBE_TEXTS,
    DriftError,
    default_version,
    drift,
    git_commit,
    latency_ms,
    runtime_logits,
    scored,
)
from training.metrics import classification_metrics, decisions, probabilities


def unfuse_graph(source: Path, target: Path) -> int:
    """Write `source`'s graph to `target` with every SkipLayerNormalization as Add(s) +
    LayerNormalization; the number of nodes rewritten."""
    import onnx
    from onnx import helper

    model = onnx.load(str(source))
    graph = model.graph
    nodes, rewritten = [], 0
    for node in graph.node:
        if node.op_type != "SkipLayerNormalization":
            nodes.append(node)
            continue
        if any(node.output[1:]):
            raise ValueError(f"{source}: {node.name} feeds its mean / variance / sum onward; cannot rewrite")
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
        x, skip, gamma, beta, *rest = node.input
        total = f"{node.name}/sum"
        nodes.append(helper.make_node("Add", [x, skip], [total], name=f"{node.name}/add"))
        if rest and rest[0]:  # the dense layer's bias, folded in by the fusion
            nodes.append(helper.make_node("Add", [total, rest[0]], [f"{total}_bias"],
                                          name=f"{node.name}/bias"))
            total = f"{total}_bias"
        nodes.append(helper.make_node("LayerNormalization", [total, gamma, beta], [node.output[0]],
                                      name=f"{node.name}/layernorm", axis=-1, epsilon=epsilon))
        rewritten += 1
    if rewritten:
        if max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 17:
            raise ValueError(f"{source}: opset < 17 has no LayerNormalization; export it again")
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.checker.check_model(model)
        onnx.save(model, str(target))
    return rewritten


def _with_version(command: str, version: str) -> str:
    """`command` (a shell line) with its --version set to `version`."""
    if not command:
        return command
    argv = shlex.split(command)
    for i, arg in enumerate(argv):
        if arg == "--version" and i + 1 < len(argv):
            argv[i + 1] = version
            return shlex.join(argv)
        if arg.startswith("--version="):
            argv[i] = f"--version={version}"
            return shlex.join(argv)
    return shlex.join([*argv, "--version", version])


def unfuse(artifact: str | Path, output_dir: str | Path, *, version: str | None = None,
           eval_data: str | None = None, threads: int = 1, command: str = "") -> Any:
    """Write the rewritten artifact to `output_dir` (see the module docstring); its Manifest."""
    from chat_emotion.artifact import MODEL_FILE, TOKENIZER_FILE, build_manifest, verify_artifact
    from chat_emotion.runtime import Classifier

    source_dir = Path(artifact)
    source = verify_artifact(source_dir)
    version = version or default_version()
    if version == source.version:
        raise ValueError(f"{source.ref}: versions are immutable; give the new one another --version")
    out = Path(output_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder")
    multi = source.problem_type == "multi_label_classification"
    evaluation = load_dataset(eval_data, "validation", label_names=source.labels) if eval_data else None
    texts = evaluation.texts if evaluation is not None else PROBE_TEXTS
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unfuse-", dir=out.parent) as work_dir:
        staged = Path(work_dir)
        rewritten = unfuse_graph(source_dir / MODEL_FILE, staged / MODEL_FILE)
        if not rewritten:
            raise ValueError(f"{source.ref}: no SkipLayerNormalization in its graph; nothing to rewrite")
        print(f"{source.ref}: {rewritten} SkipLayerNormalization nodes rewritten as Add + LayerNormalization")
        shutil.copyfile(source_dir / TOKENIZER_FILE, staged / TOKENIZER_FILE)
        fields = {f.name: getattr(source, f.name) for f in dataclasses.fields(source)
                  if f.name not in ("files", "evaluation", "provenance", "format_version")}
        fields["version"] = version
        build_manifest(staged, **fields)
        old, new = Classifier.load(source_dir, threads=threads), Classifier.load(staged, threads=threads)
        print(f"checking drift on {len(texts)} texts (the source artifact vs the rewritten one)")
        old_probs = probabilities(runtime_logits(old, texts, batch_size=1, progress=True), multi)
        new_probs = probabilities(runtime_logits(new, texts, batch_size=1, progress=True), multi)
        cuts = source.label_thresholds() if multi else None
        measured = drift(old_probs, new_probs, multi, cuts, source.labels)
        tolerance = DEFAULT_TOLERANCE[source.quantization]
        agreement = DEFAULT_MIN_AGREEMENT[source.quantization]
        if measured["mean_abs_prob_diff"] > tolerance or measured["clear_decision_agreement"] < agreement:
            raise DriftError(f"refusing to write {out}: the rewritten graph drifts from {source.ref} "
                             f"(mean |Δp| {measured['mean_abs_prob_diff']:.4f} > {tolerance} or agreement "
                             f"{measured['clear_decision_agreement']:.4f} < {agreement})")
        evaluation_fields: dict[str, Any] = {"drift": measured, **latency_ms(new, texts[:50])}
        if evaluation is not None:
            before, after = (
                classification_metrics(evaluation.targets(), decisions(p, multi, cuts, source.labels),
                                       evaluation.label_names, multi)
                for p in (old_probs, new_probs)
            )
            if after["accuracy"] < before["accuracy"] or after["macro_f1"] < before["macro_f1"]:
                raise DriftError(
                    f"refusing to write {out}: on {evaluation.source} the rewritten graph scores accuracy "
                    f"{after['accuracy']:.4f} / macro-F1 {after['macro_f1']:.4f}, below {source.ref}'s "
                    f"{before['accuracy']:.4f} / {before['macro_f1']:.4f}")
            evaluation_fields |= {
                **scored(evaluation, after),
                "unfused_from_accuracy": before["accuracy"], "unfused_from_macro_f1": before["macro_f1"],
                # The torch checkpoint's own scores (export's source_*) carry over: the weights are the same.
                **{k: v for k, v in source.evaluation.items() if k.startswith("source_")},
            }
        elif "accuracy" in source.evaluation:
            print("no --eval-data: the source's recorded scores are not carried over; pass it to record them")
        provenance = dict(source.provenance)
        provenance |= {
            # From the data, today's export writes this graph itself: the source's command, this version.
            "command": _with_version(source.provenance.get("command") or "", version),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "unfused_from": {"ref": source.ref, "sha256": source.files[MODEL_FILE],
                             "created_at": source.provenance.get("created_at"),
                             "command": command, "skip_layer_norms_rewritten": rewritten},
        }
        manifest = build_manifest(staged, **fields, evaluation=evaluation_fields, provenance=provenance)
        out.mkdir(parents=True, exist_ok=True)
        for item in staged.iterdir():
            shutil.move(str(item), out / item.name)
    return manifest
