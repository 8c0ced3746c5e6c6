"""Which labels a multi-label model puts on a text: one rule for the runtime, evaluation and export.

A label is on when its sigmoid reaches its threshold (the manifest's per-label `thresholds`, else
its scalar `threshold`). A label named `neutral` (GoEmotions) means "no emotion": it is on only
when no other label is, and then always, so a text gets either emotions or `neutral`, never both
and never nothing. Models without a `neutral` label may leave a text with no label on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

NEUTRAL = "neutral"


def labels_on(probs: np.ndarray, thresholds: Sequence[float] | np.ndarray | float,
              labels: Sequence[str]) -> np.ndarray:
    """Boolean [n, num_labels] (or [num_labels] for one row): which labels are on for each row."""
    probs = np.asarray(probs)
    on = probs >= np.asarray(thresholds, dtype=probs.dtype)
    if NEUTRAL in labels:
        neutral = list(labels).index(NEUTRAL)
        others = np.delete(on, neutral, axis=-1).any(axis=-1)
        on[..., neutral] = ~others
    return on


@dataclass
class Prediction:
    """One text's result. `labels` is every label that is on: the top one for a single-label
    model, each label whose sigmoid reaches its threshold for a multi-label model (`labels_on`:
    `neutral` only when nothing else is on; without a `neutral` label, possibly none)."""

    label: str
    """The top label: the first of `labels`, or the highest-scoring one when none is on."""
    score: float
    """Its probability (softmax) or sigmoid."""
    scores: dict[str, float]
    """Every label's probability (single-label, sums to 1) or sigmoid (multi-label)."""
    labels: list[str] = field(default_factory=list)
    """Multi-label: every label that is on, highest first; [label] for single-label."""


class LabelledModel:
    """What both engines share once they have logits: batching by length and the labels' rule.
    Subclasses set `manifest` and implement `logits(texts)` for one batch."""

    manifest: object

    @property
    def labels(self) -> list[str]:
        return self.manifest.labels

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    @cached_property
    def _cuts(self) -> np.ndarray | None:
        """Multi-label: each label's threshold, in label order (read once, used per message)."""
        cuts = self.manifest.label_thresholds()
        return None if cuts is None else np.asarray(cuts)

    def predict(self, texts: Sequence[str], *, batch_size: int = 32) -> list[Prediction]:
        """Classify `texts` in batches of `batch_size`, each padded to its own longest text.

        Sorting by length first keeps padding (wasted compute) small when texts differ in length;
        results come back in the input order.
        """
        if isinstance(texts, str):
            raise TypeError("predict takes a sequence of texts, not one string: predict([text])")
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: list[Prediction | None] = [None] * len(texts)
        for start in range(0, len(order), max(1, batch_size)):
            chunk = order[start:start + batch_size]
            logits = self.logits([texts[i] for i in chunk])
            for row, index in zip(logits, chunk, strict=True):
                results[index] = self._prediction(row)
        return [r for r in results if r is not None]

    def _prediction(self, logits: np.ndarray) -> Prediction:
        labels = self.manifest.labels
        probs = sigmoid(logits) if self.manifest.is_multi_label else softmax(logits)
        best = int(np.argmax(probs))
        scores = {label: float(p) for label, p in zip(labels, probs, strict=True)}
        cuts = self._cuts
        if cuts is not None:
            is_on = labels_on(probs, cuts, labels)
            on = [labels[i] for i in np.argsort(-probs, kind="stable") if is_on[i]]
            top = on[0] if on else labels[best]
        else:
            on = [labels[best]]
            top = labels[best]
        return Prediction(label=top, score=scores[top], scores=scores, labels=on)


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - np.max(x))  # subtract the max so large logits cannot overflow exp
    return shifted / shifted.sum()


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))
