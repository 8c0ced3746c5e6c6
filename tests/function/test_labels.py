"""chat_emotion.labels: which labels a multi-label model puts on a text."""

from __future__ import annotations

import numpy as np
from chat_emotion.labels import labels_on

LABELS = ["joy", "anger", "neutral"]


def test_each_label_against_its_own_threshold() -> None:
    probs = np.array([[0.4, 0.4, 0.1]])
    assert labels_on(probs, [0.3, 0.5, 0.5], LABELS).tolist() == [[True, False, False]]
    assert labels_on(probs, 0.35, LABELS).tolist() == [[True, True, False]]


def test_neutral_only_when_nothing_else_is_on() -> None:
    probs = np.array([[0.9, 0.1, 0.95],    # joy on: neutral off although it scores highest
                      [0.1, 0.1, 0.2],     # nothing on: neutral, although under its threshold
                      [0.1, 0.1, 0.9]])
    assert labels_on(probs, 0.5, LABELS).tolist() == [
        [True, False, False], [False, False, True], [False, False, True]]


def test_without_a_neutral_label_nothing_may_be_on() -> None:
    assert labels_on(np.array([0.1, 0.2]), 0.5, ["joy", "anger"]).tolist() == [False, False]
