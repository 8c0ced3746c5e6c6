"""`emotion-train unfuse` on a shipped artifact: SkipLayerNormalization rewritten, same decisions, gated."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest
from chat_emotion.artifact import MODEL_FILE, Manifest, verify_artifact
from chat_emotion.runtime import Classifier

import training.unfuse
from tests.training.conftest import REPO, synthetic_lines
from training.cli import main
from training.export import DriftError
from training.publish import model_card
from training.unfuse import unfuse, unfuse_graph

SHIPPED = REPO / "models" / "store" / "minilm-l2" / "2026-11-25"  # exported with SkipLayerNormalization


def ops(path) -> collections.Counter:
    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.fixture(scope="module")
def unfused(tmp_path_factory, emotion_dir):
    out = tmp_path_factory.mktemp("unfused") / "artifact"
    code = main(["unfuse", str(SHIPPED), "-o", str(out), "--version", "test-1",
                 "--eval-data", str(emotion_dir), "--threads", "1"])
    assert code == 0
    return out


def test_the_rewrite_keeps_every_node_but_the_fused_layer_norms(unfused):
    before, after = ops(SHIPPED / MODEL_FILE), ops(unfused / MODEL_FILE)
    assert before["SkipLayerNormalization"] == 4 and after["SkipLayerNormalization"] == 0
    assert after["LayerNormalization"] == 4
    assert after - collections.Counter({"LayerNormalization": 4, "Add": 8}) == before - collections.Counter(
        {"SkipLayerNormalization": 4})


def test_the_new_version_serves_the_same_decisions(unfused, emotion_dir):
    manifest = verify_artifact(unfused)
    source = Manifest.load(SHIPPED)
    assert manifest.ref == "minilm-l2@test-1" and manifest.labels == source.labels
    assert manifest.provenance["unfused_from"]["ref"] == source.ref
    assert manifest.provenance["unfused_from"]["sha256"] == source.files[MODEL_FILE]
    assert manifest.provenance["unfused_from"]["command"]  # the command line that ran (pytest's, here)
    assert "SkipLayerNormalization nodes as Add + LayerNormalization" in model_card(manifest)
    # From the data, export reproduces it: the source's export command, at the new version.
    assert manifest.provenance["command"] == source.provenance["command"].replace(
        "--version 2026-11-25", "--version test-1")
    assert manifest.evaluation["examples"] == 120
    assert manifest.evaluation["drift"]["decision_agreement"] >= 0.97
    assert manifest.evaluation["accuracy"] >= manifest.evaluation["unfused_from_accuracy"]
    texts = [line.rsplit(";", 1)[0] for line in synthetic_lines(60, 7)] + ["what a lovely surprise party!!!"]
    old = [p.scores for p in Classifier.load(SHIPPED).predict(texts, batch_size=1)]
    new = [p.scores for p in Classifier.load(unfused).predict(texts, batch_size=1)]
    for a, b in zip(old, new, strict=True):
        assert max(a, key=a.get) == max(b, key=b.get)
        assert np.allclose(list(a.values()), list(b.values()), atol=0.02)


def test_nothing_to_rewrite_same_version_or_a_used_folder_is_refused(unfused, tmp_path):
    with pytest.raises(ValueError, match="nothing to rewrite"):
        unfuse(unfused, tmp_path / "again", version="test-2")
    with pytest.raises(ValueError, match="immutable"):
        unfuse(SHIPPED, tmp_path / "same", version="2026-11-25")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        unfuse(SHIPPED, tmp_path / "used", version="test-2")
    assert not (tmp_path / "again").exists() and not (tmp_path / "same").exists()


def test_a_rewrite_that_changes_the_decisions_is_not_written(monkeypatch, tmp_path, emotion_dir):
    def broken(source, target):  # the rewrite, then every LayerNorm's scale negated: wrong logits
        count = unfuse_graph(source, target)
        model = onnx.load(str(target))
        scales = {n.input[1] for n in model.graph.node if n.op_type == "LayerNormalization"}
        for tensor in model.graph.initializer:
            if tensor.name in scales:
                array = -onnx.numpy_helper.to_array(tensor)
                tensor.CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))
        onnx.save(model, str(target))
        return count

    monkeypatch.setattr(training.unfuse, "unfuse_graph", broken)
    with pytest.raises(DriftError, match="drifts from minilm-l2@2026-11-25"):
        unfuse(SHIPPED, tmp_path / "out", version="test-3", eval_data=str(emotion_dir))
    assert not (tmp_path / "out").exists()
