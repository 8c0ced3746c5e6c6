"""Runs on ../shared/data (skipped with the reason where it is absent).

One small run stays in the fast tier so CI always trains on real text; the rest is marked heavy.
"""

from __future__ import annotations

import pytest
from chat_emotion.runtime import Classifier

from training.data import EMOTION_LABELS, load_dataset
from training.evaluate import evaluate
from training.export import ExportOptions, export
from training.train import train
from training.training_args import TrainConfig


def test_the_emotion_files_load_whole(shared_emotion):
    train_set = load_dataset(shared_emotion, "train")
    val = load_dataset(shared_emotion, "validation", label_names=train_set.label_names)
    assert (len(train_set), len(val)) == (16000, 2000)
    assert train_set.label_names == EMOTION_LABELS


def test_goemotions_files_load_whole():
    from tests.training.conftest import SHARED_DATA

    folder = SHARED_DATA / "goemotions"
    if not (folder / "train.tsv").is_file():
        pytest.skip(f"GoEmotions not found at {folder}")
    data = load_dataset(folder, "validation")
    assert len(data) == 5426 and len(data.label_names) == 28 and data.is_multi_label


def test_small_real_data_run(shared_emotion, tmp_path, tiny_models):
    """A few hundred real tweets: train a tiny model, export int8, score it through the runtime."""
    train_file, val_file = tmp_path / "train.txt", tmp_path / "val.txt"
    train_file.write_text("".join((shared_emotion / "train.txt").read_text().splitlines(keepends=True)[:600]))
    val_file.write_text("".join((shared_emotion / "val.txt").read_text().splitlines(keepends=True)[:200]))
    from tests.training.conftest import make_tiny_model

    texts = [line.rsplit(";", 1)[0] for line in train_file.read_text().splitlines()]
    start = make_tiny_model("bert", tmp_path / "init", texts)
    info = train(
        TrainConfig(
            model=str(start),
            data=str(train_file),
            eval_data=str(val_file),
            output_dir=str(tmp_path / "ck"),
            epochs=3,
            learning_rate=3e-3,
            threads=1,
            logging_steps=1000,
        )
    )
    manifest = export(
        ExportOptions(
            checkpoint=str(tmp_path / "ck"),
            output_dir=str(tmp_path / "art"),
            eval_data=str(val_file),
            threads=1,
        )
    )
    report = evaluate(tmp_path / "art", str(val_file), threads=1)
    # A tiny model from scratch learns little from 600 tweets; what must hold is that the served
    # artifact, its manifest and the torch checkpoint agree on the same real text.
    assert report["accuracy"] == pytest.approx(manifest.evaluation["accuracy"])
    assert manifest.evaluation["drift"]["clear_decision_agreement"] >= 0.97
    assert sum(map(sum, report["confusion_matrix"])) == 200
    assert abs(report["accuracy"] - info.evaluation["accuracy"]) <= 0.05


@pytest.mark.heavy
def test_minilm_fine_tunes_on_real_data(shared_emotion, tmp_path):
    """The real pretrained MiniLM learns from 1,500 tweets in one epoch (94 steps): well past the
    most common label's share (35% of these 400), though one epoch leaves the rare labels unlearnt
    (0.50-0.52 measured on two machines; the shipped models train for several)."""
    config = TrainConfig(
        model="minilm",
        data=str(shared_emotion),
        output_dir=str(tmp_path / "ck"),
        epochs=1,
        max_train_samples=1500,
        max_eval_samples=400,
        max_length=64,
        threads=2,
        logging_steps=1000,
    )
    info = train(config)
    assert info.base_checkpoint == "sentence-transformers/all-MiniLM-L6-v2"
    labels = load_dataset(shared_emotion, "validation").head(400, seed=config.seed).labels
    majority = max(list(labels).count(label) for label in set(labels)) / len(labels)
    assert info.evaluation["accuracy"] >= majority + 0.1


@pytest.mark.heavy
def test_shipped_default_model_reaches_its_target(shared_emotion):
    """The default model in models/store scores >= 0.91 on the whole validation split after int8."""
    from tests.training.conftest import REPO

    store = REPO / "models" / "store"
    name = (store / "DEFAULT").read_text().strip()
    report = evaluate(store / name, str(shared_emotion), threads=2)
    assert report["accuracy"] >= 0.91
    assert (
        Classifier.load(store / name / (store / name / "LATEST").read_text().strip()).manifest.quantization
        == "int8"
    )
