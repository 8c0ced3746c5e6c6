"""Scores → decisions → metrics, the same way for a torch checkpoint, an ONNX artifact and a benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Softmax (single-label) or sigmoid (multi-label) of logits [n, num_labels], in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def decisions(probs: np.ndarray, multi_label: bool, threshold: float | Sequence[float] | None,
              label_names: Sequence[str] = ()) -> np.ndarray:
    """Label ids [n] (argmax) or a 0/1 matrix [n, num_labels]: the function's own rule
    (chat_emotion.labels: each label against its threshold, `neutral` only when nothing else is on)."""
    if multi_label:
        from chat_emotion.labels import labels_on

        return labels_on(probs, 0.5 if threshold is None else threshold, label_names).astype(np.int64)
    return probs.argmax(axis=-1)


def classification_metrics(
    targets: np.ndarray, predicted: np.ndarray, label_names: Sequence[str], multi_label: bool
) -> dict[str, Any]:
    """accuracy (exact match for multi-label), macro-F1, per-label P/R/F1/support, confusion matrix."""
    # Imported here: scikit-learn takes ~2 s to import, which the benchmark's cold start must not count.
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        multilabel_confusion_matrix,
        precision_recall_fscore_support,
    )

    ids = list(range(len(label_names)))
    if multi_label:
        targets = np.asarray(targets).astype(np.int64)
        matrix = multilabel_confusion_matrix(targets, predicted, labels=ids).tolist()
        p, r, f, support = precision_recall_fscore_support(targets, predicted, zero_division=0)
    else:
        matrix = confusion_matrix(targets, predicted, labels=ids).tolist()
        p, r, f, support = precision_recall_fscore_support(targets, predicted, labels=ids, zero_division=0)
    return {
        "accuracy": float(accuracy_score(targets, predicted)),
        "macro_f1": float(f1_score(targets, predicted, average="macro", labels=ids, zero_division=0)),
        "per_label": {
            name: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "per_label_f1": {name: float(f[i]) for i, name in enumerate(label_names)},
        "confusion_matrix": matrix,
    }
