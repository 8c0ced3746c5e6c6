"""chat_emotion.artifact: the manifest validates itself; digests catch any changed byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chat_emotion.artifact import (
    ArtifactCorruptError,
    ArtifactMissingError,
    Manifest,
    build_manifest,
    sha256_file,
    verify_artifact,
)

DIGEST = "0" * 64
VALID: dict[str, Any] = dict(
    name="minilm", version="2026-11-25.1", architecture="bert", base_checkpoint="sentence-transformers/x",
    labels=["sadness", "joy"], problem_type="single_label_classification", threshold=None, max_length=128,
    quantization="int8", input_names=["input_ids", "attention_mask"],
    files={"model.onnx": DIGEST, "tokenizer.json": DIGEST},
    evaluation={"accuracy": 0.9}, provenance={"command": "python -m training ..."})


def test_round_trip(tmp_path: Path) -> None:
    manifest = Manifest(**VALID)
    manifest.write(tmp_path)
    assert Manifest.load(tmp_path) == manifest
    assert json.loads((tmp_path / "manifest.json").read_text())["format_version"] == 1
    assert manifest.ref == "minilm@2026-11-25.1" and not manifest.is_multi_label


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "MiniLM"}, "name"),
    ({"name": "a/b"}, "name"),
    ({"version": ""}, "version"),
    ({"labels": ["joy"]}, "labels"),
    ({"labels": ["joy", "joy"]}, "duplicates"),
    ({"problem_type": "regression"}, "problem_type"),
    ({"threshold": 0.5}, "threshold"),
    ({"problem_type": "multi_label_classification"}, "threshold"),
    ({"problem_type": "multi_label_classification", "threshold": 1.5}, "threshold"),
    ({"max_length": 1}, "max_length"),
    ({"max_length": True}, "max_length"),
    ({"quantization": "int4"}, "quantization"),
    ({"input_names": ["attention_mask"]}, "input_names"),
    ({"input_names": ["input_ids", "pixel_values"]}, "input_names"),
    ({"files": {"model.onnx": DIGEST}}, "files"),
    ({"files": {"model.onnx": "xyz", "tokenizer.json": DIGEST}}, "sha256"),
    ({"format_version": 2}, "format_version"),
])
def test_invalid_manifests_say_what_is_wrong(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Manifest(**{**VALID, **change})


def test_multi_label_needs_a_threshold() -> None:
    manifest = Manifest(**{**VALID, "problem_type": "multi_label_classification", "threshold": 0.3})
    assert manifest.is_multi_label


MULTI = {**VALID, "problem_type": "multi_label_classification", "threshold": 0.3}


def test_per_label_thresholds_round_trip(tmp_path: Path) -> None:
    manifest = Manifest(**{**MULTI, "thresholds": {"sadness": 0.2, "joy": 0.65}})
    manifest.write(tmp_path)
    assert Manifest.load(tmp_path).label_thresholds() == [0.2, 0.65]
    assert Manifest(**MULTI).label_thresholds() == [0.3, 0.3]  # the scalar stands in when none are tuned


@pytest.mark.parametrize(("thresholds", "message"), [
    ({"sadness": 0.2}, "exactly the labels"),                          # a label missing
    ({"sadness": 0.2, "joy": 0.5, "anger": 0.4}, "exactly the labels"),  # a label it does not have
    ({"sadness": 0.0, "joy": 0.5}, r"in \(0, 1\)"),
    ({"sadness": 1.0, "joy": 0.5}, r"in \(0, 1\)"),
    ({"sadness": "0.2", "joy": 0.5}, r"in \(0, 1\)"),
    ({"sadness": float("nan"), "joy": 0.5}, r"in \(0, 1\)"),
    ([0.2, 0.5], "exactly the labels"),
])
def test_bad_per_label_thresholds_are_refused(thresholds: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Manifest(**{**MULTI, "thresholds": thresholds})


def test_per_label_thresholds_are_for_multi_label_models_only() -> None:
    with pytest.raises(ValueError, match="multi-label models only"):
        Manifest(**{**VALID, "thresholds": {"sadness": 0.2, "joy": 0.5}})


def test_a_stored_manifest_with_bad_thresholds_is_a_corrupt_artifact(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({**MULTI, "thresholds": {"joy": 2}}))
    with pytest.raises(ArtifactCorruptError, match="thresholds"):
        Manifest.load(tmp_path)


def test_from_dict_rejects_unknown_and_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        Manifest.from_dict({**VALID, "colour": "blue"})
    with pytest.raises(ValueError, match="missing keys"):
        Manifest.from_dict({k: v for k, v in VALID.items() if k != "labels"})
    (tmp_path / "manifest.json").write_text(json.dumps({**VALID, "labels": "joy"}))
    with pytest.raises(ArtifactCorruptError) as info:
        Manifest.load(tmp_path)
    assert info.value.code == "MODEL_ARTIFACT_CORRUPT"
    with pytest.raises(ArtifactMissingError) as missing:
        Manifest.load(tmp_path / "nowhere")
    assert missing.value.code == "MODEL_ARTIFACT_MISSING"


def test_build_and_verify(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"weights")
    fields = {k: v for k, v in VALID.items() if k != "files"}
    with pytest.raises(ArtifactMissingError, match="tokenizer.json"):
        build_manifest(tmp_path, **fields)
    (tmp_path / "tokenizer.json").write_text("{}")
    manifest = build_manifest(tmp_path, **fields)
    assert manifest.files["model.onnx"] == sha256_file(tmp_path / "model.onnx")
    assert verify_artifact(tmp_path) == manifest
    with pytest.raises(ValueError, match="files"):
        build_manifest(tmp_path, **VALID)
    (tmp_path / "model.onnx").write_bytes(b"weightz")
    with pytest.raises(ArtifactCorruptError, match="sha256"):
        verify_artifact(tmp_path, manifest)
    (tmp_path / "model.onnx").unlink()
    with pytest.raises(ArtifactMissingError):
        verify_artifact(tmp_path, manifest)
