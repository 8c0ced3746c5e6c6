"""TrainConfig / DistillConfig validate themselves with clear errors; defaults are the seed's."""

from __future__ import annotations

import pytest

from training.catalogue import catalogue, resolve_checkpoint, seed
from training.training_args import DistillConfig, TrainConfig

BASE = dict(model="minilm", data="data", output_dir="out")


def test_defaults_are_the_seed_study():
    config = TrainConfig(**BASE)
    assert (config.learning_rate, config.batch_size, config.epochs) == (5e-5, 16, 4.0)
    assert seed().learning_rate == 5e-5
    assert config.group_by_length


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate": 0}, "learning_rate must be a positive"),
        ({"learning_rate": 3.0}, "far too large"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"epochs": float("nan")}, "epochs must be a positive"),
        ({"max_length": 4}, "at least 8 tokens"),
        ({"threshold": 1.0}, r"threshold must be in \(0, 1\)"),
        ({"warmup_ratio": 1.5}, "warmup_ratio"),
        ({"labels": ["a", "a"]}, "distinct"),
        ({"model": ""}, "model is required"),
        ({"max_train_samples": -1}, "max_train_samples"),
        ({"final": True, "selection_fraction": 0.1}, "final trains on all of train"),
        ({"asl_gamma_neg": -1.0}, r"asl_gamma_neg must be in \[0, 10\]"),
        ({"asl_clip": 0.5}, r"asl_clip must be in \[0, 0.5\)"),
    ],
)
def test_bad_settings_raise_value_error(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**(BASE | change))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alpha": 1.5}, "alpha must be in"),
        ({"temperature": 0}, "temperature must be a positive"),
        ({"hidden": 130, "heads": 4}, "multiple of heads"),
        ({"tokenizer": "mine"}, "'own' or 'teacher'"),
        ({"teacher": ""}, "teacher is required"),
    ],
)
def test_bad_distill_settings(change, message):
    with pytest.raises(ValueError, match=message):
        DistillConfig(**(BASE | {"teacher": "t"} | change))


def test_catalogue_names_resolve():
    names = catalogue()
    assert {"bert", "distilbert", "roberta", "electra", "mobilebert", "minilm"} <= set(names)
    assert names["roberta"].checkpoint == "roberta-base"
    source, base = resolve_checkpoint("minilm")
    assert base == "sentence-transformers/all-MiniLM-L6-v2"
    local = names["minilm"].local_dir()
    if local is not None:  # the PyPI package is installed: its folder, found through importlib
        assert source == str(local) and (local / "config.json").is_file()
    # Its hub id, as a manifest records it, resolves the same way (offline, from the package).
    assert resolve_checkpoint(base) == (source, base)
    assert resolve_checkpoint("bert") == ("bert-base-uncased", "bert-base-uncased")


def test_unknown_model_reference_is_explained(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'gpt9'"):
        resolve_checkpoint("gpt9")
    with pytest.raises(ValueError, match="holds no config.json"):
        resolve_checkpoint(str(tmp_path))
