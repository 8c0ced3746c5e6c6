"""Score a torch checkpoint or an exported artifact on labelled data.

An artifact is run through `chat_emotion.runtime.Classifier`, the Cloud Function's own runtime, so the
numbers are the served model's. A checkpoint is run with torch (the baseline the artifact is checked
against).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from training.data import TextDataset, load_dataset
from training.metrics import classification_metrics, decisions, probabilities

LATENCY_CALLS = 100


def resolve_model_dir(ref: str | Path) -> Path:
    """A checkpoint or artifact folder; a store model folder `STORE/NAME` resolves through its LATEST."""
    from chat_emotion.artifact import MANIFEST_FILE

    path = Path(ref).expanduser()
    if (path / "LATEST").is_file() and not (path / MANIFEST_FILE).is_file():
        path = path / (path / "LATEST").read_text(encoding="utf-8").strip()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{ref} is not a folder: pass a checkpoint (from train/distill), an artifact "
            "(from export) or a store model folder such as models/store/minilm"
        )
    return path


def is_artifact(path: Path) -> bool:
    from chat_emotion.artifact import MANIFEST_FILE, MODEL_FILE

    return (path / MANIFEST_FILE).is_file() and (path / MODEL_FILE).is_file()


class ArtifactPredictor:
    """Probabilities through the function's runtime."""

    kind = "onnx"

    def __init__(self, path: Path, threads: int) -> None:
        from chat_emotion.runtime import Classifier

        self.classifier = Classifier.load(path, threads=threads)
        manifest = self.classifier.manifest
        self.labels = list(manifest.labels)
        self.multi_label = manifest.is_multi_label
        self.threshold = manifest.label_thresholds()
        self.description = f"{manifest.ref} ({manifest.quantization})"

    def probabilities(self, texts: list[str], batch_size: int) -> np.ndarray:
        predictions = self.classifier.predict(texts, batch_size=batch_size)
        return np.array([[p.scores[label] for label in self.labels] for p in predictions])


class CheckpointPredictor:
    """Probabilities from the torch checkpoint."""

    kind = "torch"

    def __init__(self, path: Path, threads: int) -> None:
        from training.checkpoint import load_checkpoint

        self.model, self.tokenizer, info = load_checkpoint(path, threads)
        self.labels, self.max_length = list(info.labels), info.max_length
        self.multi_label = info.is_multi_label
        self.threshold = info.label_thresholds()
        self.description = f"{path} (torch fp32)"

    def probabilities(self, texts: list[str], batch_size: int) -> np.ndarray:
        from training.checkpoint import torch_logits

        logits = torch_logits(self.model, self.tokenizer, texts, self.max_length, batch_size=batch_size)
        return probabilities(logits, self.multi_label)


def load_predictor(ref: str | Path, threads: int = 1) -> ArtifactPredictor | CheckpointPredictor:
    path = resolve_model_dir(ref)
    return ArtifactPredictor(path, threads) if is_artifact(path) else CheckpointPredictor(path, threads)


def score(predictor, data: TextDataset, batch_size: int = 1) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics and time per message of `predictor` on `data`; also returns the probabilities."""
    chunks = []
    started = time.perf_counter()
    step = max(batch_size * 8, 256)  # progress in slices; each slice is still batched by the predictor
    for start in tqdm(range(0, len(data), step), desc=f"scoring ({predictor.kind})", unit="slice"):
        chunks.append(predictor.probabilities(data.texts[start : start + step], batch_size))
    elapsed = time.perf_counter() - started
    probs = np.concatenate(chunks)
    metrics = classification_metrics(
        data.targets(),
        decisions(probs, predictor.multi_label, predictor.threshold, predictor.labels),
        data.label_names,
        predictor.multi_label,
    )
    metrics["ms_per_message_batched"] = elapsed * 1000 / len(data)
    return metrics, probs


def batch1_latency(predictor, texts: list[str], calls: int = LATENCY_CALLS) -> dict[str, float]:
    """p50 / p95 milliseconds of one-text calls (what one Firestore message costs), after a warm-up."""
    predictor.probabilities(texts[:1], 1)
    samples = []
    for text in texts[:calls]:
        started = time.perf_counter()
        predictor.probabilities([text], 1)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "latency_ms_p50": float(np.percentile(samples, 50)),
        "latency_ms_p95": float(np.percentile(samples, 95)),
    }


def evaluate(
    model: str | Path,
    data: str,
    *,
    split: str = "validation",
    max_samples: int | None = None,
    threads: int | None = None,
    batch_size: int = 1,
) -> dict[str, Any]:
    """The full report for `model` (checkpoint or artifact) on `data`."""
    predictor = load_predictor(model, threads or 1)
    dataset = load_dataset(data, split, label_names=predictor.labels).head(max_samples)
    metrics, probs = score(predictor, dataset, batch_size)
    if predictor.multi_label:
        # The same decisions three ways (training/thresholds.py), for the seed's comparison.
        from training.thresholds import report

        cuts = dict(zip(predictor.labels, predictor.threshold or [], strict=True))
        compared = report(probs, dataset.targets().astype(np.int64), predictor.labels, cuts)
        metrics["thresholds_compared"] = {
            k: v for k, v in compared.items() if k.startswith(("macro", "best"))
        }
    return {
        "model": predictor.description,
        "kind": predictor.kind,
        "dataset": dataset.source,
        "split": split,
        "examples": len(dataset),
        "labels": predictor.labels,
        **metrics,
        **batch1_latency(predictor, dataset.texts),
    }


def format_report(report: dict[str, Any]) -> str:
    """Plain-text report: headline metrics, per-label table, confusion matrix (single-label)."""
    labels = report["labels"]
    width = max(len(label) for label in labels) + 2
    compared = report.get("thresholds_compared")
    lines = [
        f"model     {report['model']}",
        f"data      {report['dataset']} [{report['split']}], {report['examples']} examples",
        f"accuracy  {report['accuracy']:.4f}    macro-F1  {report['macro_f1']:.4f}"
        + ("  (accuracy: the whole label set right)" if compared else ""),
    ]
    if compared:
        lines.append(
            f"macro-F1  {compared['macro_f1_at_0_5']:.4f} at 0.5, "
            f"{compared['macro_f1_at_best_single']:.4f} at the best single threshold "
            f"({compared['best_single_threshold']:.2f}), "
            f"{compared['macro_f1_per_label_thresholds']:.4f} with the model's own thresholds"
        )
    lines += [
        f"time      {report['ms_per_message_batched']:.2f} ms/message batched; batch-1 p50 "
        f"{report['latency_ms_p50']:.2f} ms, p95 {report['latency_ms_p95']:.2f} ms",
        "",
        f"{'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for label in labels:
        row = report["per_label"][label]
        lines.append(
            f"{label:<{width}}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
            f"{row['support']:>10}"
        )
    matrix = report["confusion_matrix"]
    if matrix and not isinstance(matrix[0][0], list):
        lines += [
            "",
            "confusion matrix (rows: true, columns: predicted)",
            " " * width + "".join(f"{label[:8]:>9}" for label in labels),
        ]
        lines += [
            f"{label:<{width}}" + "".join(f"{n:>9}" for n in row)
            for label, row in zip(labels, matrix, strict=True)
        ]
    return "\n".join(lines)
