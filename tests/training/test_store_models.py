"""The models shipped in models/store: every version verifies, loads in the runtime and has a card."""

from __future__ import annotations

import pytest
from chat_emotion.artifact import MODEL_FILE, TOKENIZER_FILE, verify_artifact
from chat_emotion.runtime import Classifier

from tests.training.conftest import REPO

STORE = REPO / "models" / "store"
VERSIONS = sorted(p.parent for p in STORE.glob("*/*/manifest.json")) if STORE.is_dir() else []
MB = 2**20


def test_the_store_names_a_default_that_exists():
    if not STORE.is_dir():
        pytest.skip("models/store not published yet")
    name = (STORE / "DEFAULT").read_text().strip()
    latest = (STORE / name / "LATEST").read_text().strip()
    assert (STORE / name / latest / "manifest.json").is_file()


@pytest.mark.parametrize("version", VERSIONS, ids=[f"{p.parent.name}/{p.name}" for p in VERSIONS])
def test_shipped_model(version):
    manifest = verify_artifact(version)
    assert manifest.name == version.parent.name and manifest.version == version.name
    size = (version / MODEL_FILE).stat().st_size + (version / TOKENIZER_FILE).stat().st_size
    minilm_family = "MiniLM" in manifest.base_checkpoint  # minilm, minilm-l2, goemotions | the small students
    assert size <= (25 if minilm_family else 8) * MB
    assert manifest.quantization == "int8"
    assert {"accuracy", "macro_f1", "per_label_f1", "latency_ms_p50", "dataset"} <= set(manifest.evaluation)
    assert manifest.provenance["command"].startswith("emotion-train export")
    assert manifest.provenance["training_command"].startswith("emotion-train ")
    assert (version / "README.md").is_file()
    prediction = Classifier.load(version).predict(["i am so happy today"])[0]
    assert prediction.label in manifest.labels and 0.0 <= prediction.score <= 1.0


def test_multi_label_models_ship_per_label_thresholds():
    multi = [v for v in VERSIONS if verify_artifact(v).is_multi_label]
    assert multi, "the GoEmotions model is shipped"
    for version in multi:
        manifest = verify_artifact(version)
        assert set(manifest.thresholds or {}) == set(manifest.labels)
        assert "neutral" in manifest.labels and len(manifest.labels) == 28
