"""Fixtures for the training tests: a synthetic emotion corpus and tiny random models of each architecture.

The corpus is learnable on purpose (each label has its own cue words among shared filler), so a tiny
model trained for a few seconds must score well above chance: the tests can fail on a broken pipeline,
not only on a crash.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")
CUES = {
    "sadness": ["sad", "lonely", "miserable", "gloomy"],
    "joy": ["happy", "cheerful", "delighted", "glad"],
    "love": ["loving", "adore", "tender", "affectionate"],
    "anger": ["angry", "furious", "annoyed", "irritated"],
    "fear": ["scared", "afraid", "terrified", "nervous"],
    "surprise": ["amazed", "shocked", "astonished", "stunned"],
}
FILLER = [
    "i",
    "feel",
    "so",
    "really",
    "today",
    "about",
    "this",
    "the",
    "work",
    "and",
    "my",
    "friends",
    "at",
    "home",
    "now",
    "very",
    "quite",
]


def synthetic_lines(n: int, seed: int) -> list[str]:
    """`text;label` lines: a few filler words around one cue word of the label."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        words = rng.sample(FILLER, rng.randint(2, 6))
        words.insert(rng.randint(0, len(words)), rng.choice(CUES[label]))
        lines.append(f"{' '.join(words)};{label}")
    return lines


@pytest.fixture(scope="session")
def emotion_dir(tmp_path_factory) -> Path:
    """A folder in the emotion layout: train.txt (300 lines) and val.txt (120 lines)."""
    folder = tmp_path_factory.mktemp("emotion")
    (folder / "train.txt").write_text("\n".join(synthetic_lines(300, 1)) + "\n", encoding="utf-8")
    (folder / "val.txt").write_text("\n".join(synthetic_lines(120, 2)) + "\n", encoding="utf-8")
    return folder


def make_tiny_model(
    architecture: str,
    folder: Path,
    texts: list[str],
    labels=LABELS,
    problem_type: str = "single_label_classification",
) -> Path:
    """Save a tiny random `architecture` classifier with a tokenizer trained on `texts` to `folder`."""
    import torch

    from training.students import build_student, train_tokenizer

    # The same weights for the same vocabulary. A WordPiece vocabulary itself can differ run to run
    # (huggingface/tokenizers#1794), so the accuracy bars in test_pipeline train long enough not to care.
    torch.manual_seed(0)
    tokenizer = train_tokenizer(architecture, texts, vocab_size=300)
    model = build_student(
        architecture, tokenizer, list(labels), problem_type, layers=2, hidden=32, heads=2, intermediate=64
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, emotion_dir) -> dict[str, Path]:
    """Architecture → folder of a tiny random model (the 'pretrained' starting point)."""
    from training.students import ARCHITECTURES

    texts = [line.rsplit(";", 1)[0] for line in (emotion_dir / "train.txt").read_text().splitlines()]
    return {
        arch: make_tiny_model(arch, tmp_path_factory.mktemp(f"tiny-{arch}"), texts) for arch in ARCHITECTURES
    }


@pytest.fixture(scope="session")
def shared_emotion() -> Path:
    """../shared/data/emotion, or skip with the reason."""
    folder = SHARED_DATA / "emotion"
    if not (folder / "train.txt").is_file():
        pytest.skip(f"real data not found at {folder} (the project runs without it; these tests need it)")
    return folder
