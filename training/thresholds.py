"""Per-label thresholds for a multi-label model, tuned on validation data (never on test data).

Each label's threshold is the one on a grid that gives that label the best F1 on the validation
set; labels too rare to tune (fewer than MIN_SUPPORT positives) keep the single best threshold.
The report compares three ways of deciding, each through the function's own rule
(chat_emotion.labels: `neutral` only when nothing else is on): 0.5 for every label, the best
single threshold, and the tuned per-label ones. The figures are on the data the thresholds were
tuned on, so they are optimistic for unseen text; say so wherever they are quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.metrics import classification_metrics, decisions

GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.951, 0.01))
MIN_SUPPORT = 5
"""Positives a label needs in the validation set before it gets a threshold of its own."""


def _f1(targets: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Per-column F1 of 0/1 matrices (0 where a label has neither positives nor predictions)."""
    tp = (targets * on).sum(axis=0)
    denom = targets.sum(axis=0) + on.sum(axis=0)
    return np.divide(2 * tp, denom, out=np.zeros_like(tp, dtype=np.float64), where=denom > 0)


def best_single_threshold(probs: np.ndarray, targets: np.ndarray, labels: Sequence[str]) -> float:
    """The one threshold for every label that maximises macro-F1 (under the function's rule)."""
    scores = [_f1(targets, decisions(probs, True, t, labels)).mean() for t in GRID]
    return float(GRID[int(np.argmax(scores))])


def tune(probs: np.ndarray, targets: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """{label: threshold}: each label's F1-best threshold on the grid (rare labels: the best single)."""
    single = best_single_threshold(probs, targets, labels)
    raw = np.stack([(probs >= t).astype(np.int64) for t in GRID])  # [grid, n, labels]
    per_grid = np.stack([_f1(targets, on) for on in raw])  # [grid, labels]
    support = targets.sum(axis=0)
    out = {}
    for i, label in enumerate(labels):
        out[label] = float(GRID[int(np.argmax(per_grid[:, i]))]) if support[i] >= MIN_SUPPORT else single
    return out


def report(probs: np.ndarray, targets: np.ndarray, labels: Sequence[str],
           thresholds: dict[str, float]) -> dict[str, Any]:
    """Macro-F1 at 0.5, at the best single threshold and per label; per-label F1 of the tuned rule."""
    single = best_single_threshold(probs, targets, labels)
    tuned = [thresholds[label] for label in labels]

    def scored(cut: float | list[float]) -> dict[str, Any]:
        return classification_metrics(targets, decisions(probs, True, cut, labels), labels, True)

    at_half, at_single, at_tuned = scored(0.5), scored(single), scored(tuned)
    return {
        "macro_f1_at_0_5": at_half["macro_f1"],
        "best_single_threshold": single,
        "macro_f1_at_best_single": at_single["macro_f1"],
        "macro_f1_per_label_thresholds": at_tuned["macro_f1"],
        "exact_match_per_label_thresholds": at_tuned["accuracy"],
        "per_label_f1": at_tuned["per_label_f1"],
        "thresholds": thresholds,
    }


def tune_on(probs: np.ndarray, dataset) -> tuple[dict[str, float], dict[str, Any]]:
    """(thresholds, report) for a multi-label model's probabilities on a validation `TextDataset`."""
    targets = dataset.targets().astype(np.int64)
    thresholds = tune(probs, targets, dataset.label_names)
    return thresholds, {"dataset": dataset.source, "examples": len(dataset),
                        **report(probs, targets, dataset.label_names, thresholds)}


def tune_checkpoint(checkpoint: str | Path, data: str, threads: int | None = None) -> dict[str, Any]:
    """Tune a multi-label checkpoint's thresholds on `data`'s validation split and record them in
    its training.json (export then carries them into the manifest); returns the report."""
    from training.checkpoint import load_checkpoint, torch_logits
    from training.data import load_dataset
    from training.metrics import probabilities

    model, tokenizer, info = load_checkpoint(checkpoint, threads)
    if not info.is_multi_label:
        raise ValueError(f"{checkpoint} is a single-label model: thresholds apply to multi-label models only")
    dev = load_dataset(data, "validation", label_names=info.labels)
    probs = probabilities(torch_logits(model, tokenizer, dev.texts, info.max_length, progress=True), True)
    info.thresholds, result = tune_on(probs, dev)
    info.evaluation = {**info.evaluation, "thresholds_tuning": result}
    info.write(checkpoint)
    return result
