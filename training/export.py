"""Export a checkpoint to a model artifact (DESIGN.md's contract, `chat_emotion.artifact`).

    torch ──torch.onnx.export (TorchScript exporter, eager attention)──▶ model.onnx (fp32)
          ──onnxruntime.transformers.optimizer (attention / LayerNorm / GELU fusion)──▶ fused fp32
          ──training.rewrite.first_row_only (after the last attention, only the row the head reads)──▶
          ──onnxruntime.quantization.quantize_dynamic (int8 weights)──▶ model.onnx (int8, the default)

The artifact is then loaded through the Cloud Function's own runtime (`chat_emotion.runtime`) and its
probabilities compared with the torch model's on the evaluation texts. If they drift beyond the
tolerance nothing is written: the staging folder is removed and the command fails with the numbers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from training.catalogue import catalogue
from training.checkpoint import CheckpointInfo, load_checkpoint, torch_logits
from training.data import TextDataset, load_dataset
from training.metrics import classification_metrics, decisions, probabilities

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

# Drift defaults: int8 moves probabilities a little everywhere; fp32 must match torch to rounding.
DEFAULT_TOLERANCE = {"int8": 0.03, "fp32": 1e-4}
"""Largest allowed mean absolute difference of the probabilities (over texts and labels)."""
DEFAULT_MIN_AGREEMENT = {"int8": 0.97, "fp32": 0.999}
"""Smallest allowed share of clearly decided texts whose decision (top label or label set) is torch's."""
CLEAR_MARGIN = 0.1
"""Clearly decided: torch's top two probabilities (multi-label: every sigmoid and the threshold) differ
by at least this much."""

# Checks drift when no evaluation data is given: short and long, every emotion, some noise.
PROBE_TEXTS = [
    "i feel so happy today",
    "i am really sad and lonely",
    "this makes me so angry",
    "i am scared of what comes next",
    "wow i did not expect that at all",
    "i love you so much",
    "i feel like nothing i do matters anymore and i cannot explain why to anyone around me",
    "ok",
    "the meeting is at 3pm",
    "i feel strangely calm about the exam tomorrow",
    "im furious that they cancelled without telling anyone",
    "what a lovely surprise party!!!",
    "i feel terrified walking home alone at night",
    "i am grateful for my friends",
    "i feel a bit disappointed but i will be fine",
    "honestly i feel amazed by how kind people were",
]


class DriftError(RuntimeError):
    """The exported model's predictions differ from the source model's beyond the tolerance."""


@dataclass(kw_only=True)
class ExportOptions:
    """Settings for one export."""

    checkpoint: str
    output_dir: str
    name: str | None = None
    """Catalogue name for the manifest; default: the base's catalogue name or architecture."""
    version: str | None = None
    """Default: UTC date and time, `YYYY-MM-DD.HHMM`."""
    quantization: str = "int8"
    tolerance: float | None = None
    """Mean absolute probability difference allowed; default DEFAULT_TOLERANCE[quantization]."""
    min_agreement: float | None = None
    eval_data: str | None = None
    max_eval_samples: int | None = None
    optimize: bool = True
    opset: int = 17
    threads: int | None = None
    command: str = ""
    description: str = ""
    """What the model is, in a sentence or two, for the manifest and the model card."""
    retune_thresholds: bool = False
    """Multi-label: tune the per-label thresholds again on the artifact's own probabilities (int8
    moves sigmoids a little; the served model should be cut where it is best), over the checkpoint's
    selection slice (`selection_slice`), or over `eval_data` when it was trained without one."""

    def __post_init__(self) -> None:
        if self.retune_thresholds and not self.eval_data:
            raise ValueError("--retune-thresholds tunes on --eval-data: pass the validation data too")
        if self.quantization not in DEFAULT_TOLERANCE:
            raise ValueError(f"quantization must be 'int8' or 'fp32', got {self.quantization!r}")
        self.tolerance = DEFAULT_TOLERANCE[self.quantization] if self.tolerance is None else self.tolerance
        if self.min_agreement is None:
            self.min_agreement = DEFAULT_MIN_AGREEMENT[self.quantization]
        if not 0.0 < self.tolerance < 1.0:
            raise ValueError(f"tolerance must be in (0, 1), got {self.tolerance}")
        if not 0.0 < self.min_agreement <= 1.0:
            raise ValueError(f"min_agreement must be in (0, 1], got {self.min_agreement}")
        if not 11 <= self.opset <= 20:
            raise ValueError(f"opset must be between 11 and 20, got {self.opset}")
        out = Path(self.output_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"{out} already exists and is not an empty folder: choose a new --output")


def default_name(info: CheckpointInfo) -> str:
    for name, entry in catalogue().items():
        if info.base_checkpoint in (entry.checkpoint, str(entry.local_dir())):
            return name
    return info.architecture


def export_onnx(model, tokenizer, path: Path, opset: int) -> list[str]:
    """TorchScript-export `model` to `path` with dynamic batch and sequence axes; return the input names."""
    import torch

    names = [n for n in ONNX_INPUTS if n in tokenizer.model_input_names]
    sample = tokenizer(
        ["a short text", "a somewhat longer text to export with"], padding=True, return_tensors="pt"
    )

    class Logits(torch.nn.Module):
        """Positional inputs in `names` order → logits only (the artifact contract's one output)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).logits

    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with torch.inference_mode():
        torch.onnx.export(
            Logits().eval(),
            tuple(sample[n] for n in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    return names


def fuse(source: Path, target: Path, config) -> dict[str, int]:
    """ONNX Runtime's transformer optimizer (attention, LayerNorm, GELU, embedding fusion); the fused
    operator counts, empty when nothing applied.

    Residual + LayerNorm stays two operators (Add, LayerNormalization): ONNX Runtime 1.32's CPU
    SkipLayerNormalization kernel takes ~3x as long as the pair at batch 1 (48 vs 15 us for 20 tokens
    × 384; a whole 2-layer MiniLM run 12 % slower), measured in docs/PERFORMANCE.md."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    heads = getattr(config, "num_attention_heads", 0)
    hidden = getattr(config, "hidden_size", 0)
    if config.model_type == "mobilebert" and config.use_bottleneck:
        heads = hidden = 0  # attention runs on a bottleneck width: let the optimizer detect it
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    optimized = optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden,
                               optimization_options=options)
    optimized.save_model_to_file(str(target))
    return {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}


def quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Fused contrib operators (Attention, SkipLayerNormalization) defeat ONNX shape inference; telling
    # the quantizer that untyped tensors are float lets it quantize their MatMuls anyway.
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def write_tokenizer(tokenizer, path: Path, max_length: int) -> None:
    """The fast tokenizer's `tokenizers` JSON, truncating at max_length and padding with its own pad token."""
    backend = tokenizer.backend_tokenizer
    backend.enable_truncation(max_length=max_length)
    pad = tokenizer.pad_token or "[PAD]"
    backend.enable_padding(pad_id=tokenizer.convert_tokens_to_ids(pad), pad_token=pad)
    backend.save(str(path))


def drift(
    torch_probs: np.ndarray,
    onnx_probs: np.ndarray,
    multi_label: bool,
    threshold: float | Sequence[float] | None,
    label_names: Sequence[str] = (),
) -> dict[str, float]:
    """How far the artifact's probabilities are from torch's; decisions by the function's own rule
    (per-label thresholds when given)."""
    diff = np.abs(torch_probs - onnx_probs)
    a = decisions(torch_probs, multi_label, threshold, label_names)
    b = decisions(onnx_probs, multi_label, threshold, label_names)
    same = (a == b).all(axis=-1) if multi_label else a == b
    # A near tie can flip on rounding alone; agreement is judged on the texts torch decides clearly.
    if multi_label:
        cut = np.asarray(threshold if threshold is not None else 0.5, dtype=np.float64)
        margin = np.abs(torch_probs - cut).min(axis=-1)
    else:
        top2 = np.sort(torch_probs, axis=-1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
    clear = margin >= CLEAR_MARGIN
    return {
        "mean_abs_prob_diff": float(diff.mean()),
        "max_abs_prob_diff": float(diff.max()),
        "decision_agreement": float(same.mean()),
        "clear_decision_agreement": float(same[clear].mean()) if clear.any() else 1.0,
        "clear_texts": int(clear.sum()),
        "texts": int(len(torch_probs)),
    }


def latency_ms(classifier, texts: list[str], calls: int = 100) -> dict[str, float]:
    """Batch-1 latency through the runtime, after one warm-up call."""
    classifier.predict(texts[:1])
    samples = []
    for text in (texts * (calls // max(1, len(texts)) + 1))[:calls]:
        started = time.perf_counter()
        classifier.predict([text])
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "latency_ms_p50": float(np.percentile(samples, 50)),
        "latency_ms_p95": float(np.percentile(samples, 95)),
    }


def default_version() -> str:
    """A new artifact's version when none is given: UTC date and time, e.g. 2026-11-25.1042."""
    return datetime.now(UTC).strftime("%Y-%m-%d.%H%M")


def scored(evaluation: TextDataset, scores: dict[str, Any]) -> dict[str, Any]:
    """The manifest's `evaluation` fields for `scores` (classification_metrics) on `evaluation`."""
    return {
        "dataset": evaluation.source,
        "split": "validation",
        "examples": len(evaluation),
        **{k: scores[k] for k in ("accuracy", "macro_f1", "per_label_f1", "confusion_matrix")},
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def export(options: ExportOptions):
    """Export, check drift through the runtime, and (only if it passes) write the artifact folder.

    Returns the written `chat_emotion.artifact.Manifest`; raises DriftError when it does not pass.
    """
    from chat_emotion.artifact import MODEL_FILE, TOKENIZER_FILE, build_manifest
    from chat_emotion.runtime import Classifier

    model, tokenizer, info = load_checkpoint(options.checkpoint, options.threads)
    multi = info.problem_type == "multi_label_classification"
    evaluation: TextDataset | None = None
    if options.eval_data:
        evaluation = load_dataset(options.eval_data, "validation", label_names=info.labels)
        evaluation = evaluation.head(options.max_eval_samples)
    selection = selection_slice(info)
    texts = evaluation.texts if evaluation else PROBE_TEXTS
    name = options.name or default_name(info)
    version = options.version or default_version()
    out = Path(options.output_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out.parent) as work_dir:
        work = Path(work_dir)
        staged = work / "artifact"
        staged.mkdir()
        print(f"exporting {options.checkpoint} to ONNX (opset {options.opset})")
        input_names = export_onnx(model, tokenizer, work / "raw.onnx", options.opset)
        fp32 = work / "raw.onnx"
        fusions: dict[str, int] = {}
        if options.optimize:
            fusions = fuse(work / "raw.onnx", work / "fused.onnx", model.config)
            fp32 = work / "fused.onnx"
            print(f"fused operators: {fusions or 'none'}")
        from training.rewrite import rewrite_graph

        rows = rewrite_graph(fp32, work / "rows.onnx", ["first-row-only"])["first-row-only"]
        if rows:
            fp32 = work / "rows.onnx"
            print(f"{rows} operators after the last attention run on the first token's row alone")
        if options.quantization == "int8":
            quantize(fp32, staged / MODEL_FILE)
        else:
            shutil.copyfile(fp32, staged / MODEL_FILE)
        write_tokenizer(tokenizer, staged / TOKENIZER_FILE, info.max_length)

        fields: dict[str, Any] = dict(
            name=name,
            version=version,
            architecture=info.architecture,
            base_checkpoint=info.base_checkpoint,
            labels=list(info.labels),
            problem_type=info.problem_type,
            threshold=info.threshold,
            thresholds=info.thresholds,
            max_length=info.max_length,
            quantization=options.quantization,
            input_names=input_names,
        )
        build_manifest(staged, **fields)
        classifier = Classifier.load(staged, threads=options.threads or 1)

        print(f"checking drift on {len(texts)} texts (torch vs the function's runtime)")
        torch_probs = probabilities(
            torch_logits(model, tokenizer, texts, info.max_length, progress=True), multi
        )
        # One text per call, as the function serves a message: int8 activations are quantized with
        # one scale over the whole batch, so a text's scores move a little with its batch-mates.
        onnx_probs = probabilities(runtime_logits(classifier, texts, batch_size=1, progress=True), multi)
        cuts, labels = info.label_thresholds(), list(info.labels)
        tuner = selection if selection is not None else evaluation
        if options.retune_thresholds:
            if not multi or tuner is None:
                raise ValueError(
                    f"--retune-thresholds is for multi-label models; {options.checkpoint} is not one")
            from training.thresholds import tune

            tuner_probs = (
                onnx_probs
                if tuner is evaluation
                else probabilities(
                    runtime_logits(classifier, tuner.texts, batch_size=1, progress=True), multi
                )
            )
            fields["thresholds"] = tune(tuner_probs, tuner.targets().astype(np.int64), labels)
            cuts = [fields["thresholds"][label] for label in labels]
            print(f"per-label thresholds tuned again on the artifact's probabilities ({tuner.source})")
        measured = drift(torch_probs, onnx_probs, multi, cuts, labels)
        print(json.dumps(measured))
        if (
            measured["mean_abs_prob_diff"] > options.tolerance
            or measured["clear_decision_agreement"] < options.min_agreement
        ):
            raise DriftError(
                f"refusing to write {out}: the {options.quantization} model drifts from torch "
                f"(mean |Δp| {measured['mean_abs_prob_diff']:.4f} > {options.tolerance} or agreement "
                f"{measured['clear_decision_agreement']:.4f} < {options.min_agreement})"
                "; try --fp32 or --no-optimize"
            )

        evaluation_fields: dict[str, Any] = {"drift": measured, **latency_ms(classifier, texts[:50])}
        if evaluation is not None:
            scores = classification_metrics(
                evaluation.targets(),
                decisions(onnx_probs, multi, cuts, labels),
                evaluation.label_names,
                multi,
            )
            torch_scores = classification_metrics(
                evaluation.targets(),
                decisions(torch_probs, multi, cuts, labels),
                evaluation.label_names,
                multi,
            )
            evaluation_fields |= {
                **scored(evaluation, scores),
                "source_accuracy": torch_scores["accuracy"],
                "source_macro_f1": torch_scores["macro_f1"],
                # True when a slice held out of train made every choice (in this run, or in the
                # slice run that fixed a final run's recipe): the figure is for unseen text.
                "unseen": selection is not None or bool(info.hyperparameters.get("final")),
            }
        fields["evaluation"] = evaluation_fields
        fields["provenance"] = {
            "command": options.command,
            "description": options.description or None,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "training_command": info.command,
            "training_dataset": info.dataset,
            "hyperparameters": info.hyperparameters,
            "epoch_seconds": info.epoch_seconds,
            "training_history": info.history,
            "distillation": info.distillation,
            "selection": info.selection or None,
            "export": {
                "opset": options.opset,
                "exporter": "torch.onnx.export(dynamo=False)",
                "optimizer": "onnxruntime.transformers.optimizer" if options.optimize else None,
                "fused_operators": fusions,
                "first_row_only": rows,
                "tolerance": options.tolerance,
                "min_agreement": options.min_agreement,
                "model_bytes": (staged / MODEL_FILE).stat().st_size,
                "thresholds": (
                    f"tuned on this artifact's probabilities over {tuner.source}"
                    if options.retune_thresholds and tuner is not None
                    else "the checkpoint's" if fields.get("thresholds") else None
                ),
            },
        }
        manifest = build_manifest(staged, **fields)
        out.mkdir(parents=True, exist_ok=True)
        for item in staged.iterdir():
            shutil.move(str(item), out / item.name)
    return manifest


def selection_slice(info) -> TextDataset | None:
    """The checkpoint's selection slice, drawn again from its training data by the same rule
    (None when it was trained without one, or its data is not here)."""
    fraction = info.hyperparameters.get("selection_fraction") or 0.0
    data = info.hyperparameters.get("data")
    if not fraction or not data:
        return None
    try:
        train = load_dataset(data, "train", label_names=info.labels)
    except (OSError, ValueError) as err:
        print(f"the selection slice cannot be drawn again from {data} ({err}); thresholds use --eval-data")
        return None
    return train.split_off(fraction)[1]


def runtime_logits(classifier, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """Logits from the runtime in input order, batched by length like Classifier.predict."""
    from tqdm.auto import tqdm

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), len(classifier.labels)), dtype=np.float32)
    for start in tqdm(
        range(0, len(order), batch_size), desc="onnx inference", unit="batch", disable=not progress
    ):
        chunk = order[start : start + batch_size]
        out[chunk] = classifier.logits([texts[i] for i in chunk])
    return out
