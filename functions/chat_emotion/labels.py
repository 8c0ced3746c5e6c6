"""Which labels a multi-label model puts on a text: one rule for the runtime, evaluation and export.

A label is on when its sigmoid reaches its threshold (the manifest's per-label `thresholds`, else
its scalar `threshold`). A label named `neutral` (GoEmotions) means "no emotion": it is on only
when no other label is, and then always, so a text gets either emotions or `neutral`, never both
and never nothing. Models without a `neutral` label may leave a text with no label on.
"""

from __future__ import annotations

from collections.abc import Sequence

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
