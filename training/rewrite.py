"""Rewrite an exported artifact's graph: the same weights, a faster graph, the same decisions.

Two passes, each applied where its pattern is found (`PASSES`):

- **unfuse-skip-layer-norms**: each fused `SkipLayerNormalization` (residual add + bias + LayerNorm
  in one contrib operator) becomes `Add` + `LayerNormalization`. On ONNX Runtime 1.32's CPU kernels
  the fused operator takes ~3x as long as the pair at batch 1 (docs/PERFORMANCE.md), so `export`
  stopped fusing it on 2026-12-04.
- **first-row-only**: the classifier reads one row of the encoder's last output, the first token's
  (BERT's pooler, DistilBERT's pre-classifier, RoBERTa's and ELECTRA's heads all take
  `hidden[:, 0]`). Every operator after the last attention that works row by row (output
  projection, residual adds, LayerNorms, the feed-forward block) then runs on that row alone: the
  tensors entering that region are sliced to their first row. In a 2-layer MiniLM at 20 tokens
  that is 35 % of the multiply-adds (71.5 M -> 46.3 M). fp32 results are unchanged to rounding;
  int8 moves a little, because each dynamic quantization then takes its scale over the one row
  rather than all of them. `export` applies it to every graph it writes (since 2026-12-07).

`rewrite` turns an already-exported artifact into a new version without its torch checkpoint.
Versions are immutable: the result is a new artifact folder, for `publish`. The gate, as for
`export`: the new model is loaded through the function's runtime and its probabilities and decisions
compared with the source artifact's, one text per call (export's drift defaults); otherwise nothing
is written. With evaluation data both versions' scores are recorded, and they choose nothing: int8's
rounding moves a text or two either way, and a gate on the validation split would make it choose
(issue 23's rule).
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import tempfile
from collections.abc import Callable, Sequence
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


def unfuse_skip_layer_norms(model) -> int:
    """Rewrite every SkipLayerNormalization of `model` (an onnx.ModelProto, in place) as Add(s) +
    LayerNormalization; the number of nodes rewritten."""
    from onnx import helper

    graph = model.graph
    nodes, rewritten = [], 0
    for node in graph.node:
        if node.op_type != "SkipLayerNormalization":
            nodes.append(node)
            continue
        if any(node.output[1:]):
            raise ValueError(f"{node.name} feeds its mean / variance / sum onward; cannot rewrite")
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
            raise ValueError("opset < 17 has no LayerNormalization; export it again")
        del graph.node[:]
        graph.node.extend(nodes)
    return rewritten


ROW_WISE = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "Relu", "Sigmoid", "Cast",
    "LayerNormalization", "SkipLayerNormalization", "Gelu", "BiasGelu", "FastGelu",
    "MatMul", "MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLinear",
})
"""Operators whose output row i depends on input row i alone (MatMuls: when B is a weight), up to
the one scale a dynamic quantization takes over its whole input."""
SEQUENCE_PRODUCERS = ROW_WISE | {
    "Attention", "QAttention", "MultiHeadAttention", "Reshape",
    "EmbedLayerNormalization", "QEmbedLayerNormalization",
}
"""Operators whose (first) output is a [batch, sequence, ...] activation: what may be sliced."""


def first_row_only(model) -> int:
    """Move the row-wise operators that feed only `hidden[:, 0]` onto that row (module docstring);
    `model` is an onnx.ModelProto, changed in place. The number of operators moved (0: nothing
    found, the graph is untouched)."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    nodes = list(graph.node)  # positions, not protobuf wrappers, identify nodes below
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in nodes:  # the exporter's Constant nodes, and Identity nodes of a shared weight
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in constants:
            constants[node.output[0]] = constants[node.input[0]]

    def first_row(node) -> bool:  # Gather(x, 0, axis=1): hidden[:, 0]
        index = constants.get(node.input[1]) if node.op_type == "Gather" else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        return index is not None and np.asarray(index).shape == () and int(index) == 0 and axis == 1

    gathers = [i for i, node in enumerate(nodes) if first_row(node)]
    if len(gathers) != 1:
        return 0
    consumers: dict[str, list[int]] = {}
    producers: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(i)
        producers.update((name, i) for name in node.output if name)
    outputs = {o.name for o in graph.output}
    # Nodes are in topological order: walking back, every consumer is decided before its producer.
    region = {gathers[0]}
    for i in reversed(range(gathers[0])):
        node = nodes[i]
        if node.op_type not in ROW_WISE:
            continue
        if node.op_type in ("MatMul", "MatMulInteger") and node.input[1] not in constants:
            continue  # activation x activation (attention scores): not row-wise
        used = [c for o in node.output if o for c in consumers.get(o, [])]
        if used and all(c in region for c in used) and not outputs.intersection(node.output):
            region.add(i)
    if len(region) == 1:
        return 0
    entering: list[str] = []
    for i in sorted(region):
        for name in nodes[i].input[:1] if i == gathers[0] else nodes[i].input:
            producer = producers.get(name)
            if not name or name in constants or producer in region:
                continue
            kind = nodes[producer].op_type if producer is not None else None
            if kind == "DynamicQuantizeLinear" and name != nodes[producer].output[0]:
                continue  # its scale and zero point: scalars, one for the whole tensor
            if kind not in SEQUENCE_PRODUCERS:
                return 0  # something of unknown shape enters the region: leave the graph alone
            if name not in entering:
                entering.append(name)
    row = {"first_row/starts": 0, "first_row/ends": 1, "first_row/axes": 1}
    graph.initializer.extend(
        helper.make_tensor(name, 7, [1], [value]) for name, value in row.items())  # 7: INT64
    sliced = {name: f"{name}/first_row" for name in entering}
    rewritten = []
    for i, node in enumerate(nodes):
        if i in region:
            for k, name in enumerate(node.input):
                if name in sliced and not (i == gathers[0] and k):
                    node.input[k] = sliced[name]
        rewritten.append(node)
        rewritten.extend(
            helper.make_node("Slice", [o, *row], [sliced[o]], name=f"{o}/first_row")
            for o in node.output if o in sliced)
    del graph.node[:]
    graph.node.extend(rewritten)
    return len(region) - 1


PASSES: dict[str, Callable[[Any], int]] = {
    "unfuse-skip-layer-norms": unfuse_skip_layer_norms,
    "first-row-only": first_row_only,
}
"""Each pass: an onnx.ModelProto changed in place -> how many nodes it rewrote (0: not applicable)."""


def rewrite_graph(source: Path, target: Path, passes: Sequence[str] = tuple(PASSES)) -> dict[str, int]:
    """Apply `passes` (names in PASSES, in that order) to `source`'s graph; write it to `target` when
    any applied. The nodes each pass rewrote."""
    import onnx

    model = onnx.load(str(source))
    counts = {name: PASSES[name](model) for name in passes}
    if any(counts.values()):
        onnx.checker.check_model(model)
        onnx.save(model, str(target))
    return counts


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


def rewrite(artifact: str | Path, output_dir: str | Path, *, passes: Sequence[str] = tuple(PASSES),
            version: str | None = None, eval_data: str | None = None, threads: int = 1,
            command: str = "") -> Any:
    """Write `artifact` with `passes` applied to `output_dir` (see the module docstring); its Manifest."""
    unknown = sorted(set(passes) - set(PASSES))
    if unknown or not passes:
        raise ValueError(f"unknown passes {unknown or '(none given)'}; choose from {', '.join(PASSES)}")
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
    with tempfile.TemporaryDirectory(prefix=".rewrite-", dir=out.parent) as work_dir:
        staged = Path(work_dir)
        counts = rewrite_graph(source_dir / MODEL_FILE, staged / MODEL_FILE, passes)
        if not any(counts.values()):
            raise ValueError(f"{source.ref}: no pass of {', '.join(passes)} applies to its graph; "
                             "nothing to rewrite")
        print(f"{source.ref}: nodes rewritten by pass: {counts}")
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
            print(f"{evaluation.source}: accuracy {before['accuracy']:.4f} -> {after['accuracy']:.4f}, "
                  f"macro-F1 {before['macro_f1']:.4f} -> {after['macro_f1']:.4f}")
            evaluation_fields |= {
                **scored(evaluation, after),
                "rewritten_from_accuracy": before["accuracy"], "rewritten_from_macro_f1": before["macro_f1"],
                # The torch checkpoint's own scores (export's source_*) carry over: the weights are the
                # same. So does whether this split chose anything (issue 23's rule): a rewrite chooses
                # nothing.
                **{k: v for k, v in source.evaluation.items() if k.startswith("source_")},
                "unseen": bool(source.evaluation.get("unseen")),
            }
        elif "accuracy" in source.evaluation:
            print("no --eval-data: the source's recorded scores are not carried over; pass it to record them")
        provenance = dict(source.provenance)
        provenance |= {
            # From the data, today's export writes this graph itself: the source's command, this version.
            "command": _with_version(source.provenance.get("command") or "", version),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "rewritten_from": {"ref": source.ref, "sha256": source.files[MODEL_FILE],
                               "created_at": source.provenance.get("created_at"),
                               "command": command, "passes": counts},
        }
        manifest = build_manifest(staged, **fields, evaluation=evaluation_fields, provenance=provenance)
        out.mkdir(parents=True, exist_ok=True)
        for item in staged.iterdir():
            shutil.move(str(item), out / item.name)
    return manifest
