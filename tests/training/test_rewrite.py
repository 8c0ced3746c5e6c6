"""`emotion-train rewrite` / `unfuse` and their graph passes: a faster graph, the same decisions, gated.

The first-row pass is proven where its result must be exact (fp32, each architecture, a padded
batch against the graph it came from), then on the shipped default (int8) through the runtime.
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from chat_emotion.artifact import MODEL_FILE, Manifest, verify_artifact
from chat_emotion.runtime import Classifier

import training.rewrite
from tests.training.conftest import REPO, synthetic_lines
from training.cli import main
from training.export import DriftError, export_onnx, fuse
from training.publish import model_card
from training.rewrite import first_row_only, rewrite, rewrite_graph, unfuse_skip_layer_norms
from training.students import ARCHITECTURES

FUSED = REPO / "models" / "store" / "minilm-l2" / "2026-11-25"  # exported with SkipLayerNormalization
DEFAULT = REPO / "models" / "store" / "minilm-l2" / "2026-12-04"  # unfused, every row to the end
TEXTS = [line.rsplit(";", 1)[0] for line in synthetic_lines(60, 7)] + ["what a lovely surprise party!!!"]


def ops(path) -> collections.Counter:
    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_cli(command: str, source, version: str, folder, emotion_dir):
    out = folder / "artifact"
    code = main([command, str(source), "-o", str(out), "--version", version,
                 "--eval-data", str(emotion_dir), "--threads", "1"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def unfused(tmp_path_factory, emotion_dir):
    return run_cli("unfuse", FUSED, "test-1", tmp_path_factory.mktemp("unfused"), emotion_dir)


@pytest.fixture(scope="module")
def rows(tmp_path_factory, emotion_dir):
    return run_cli("rewrite", DEFAULT, "test-rows", tmp_path_factory.mktemp("rows"), emotion_dir)


def test_unfuse_keeps_every_node_but_the_fused_layer_norms(unfused):
    before, after = ops(FUSED / MODEL_FILE), ops(unfused / MODEL_FILE)
    assert before["SkipLayerNormalization"] == 4 and after["SkipLayerNormalization"] == 0
    assert after["LayerNormalization"] == 4
    assert after - collections.Counter({"LayerNormalization": 4, "Add": 8}) == before - collections.Counter(
        {"SkipLayerNormalization": 4})


def test_the_unfused_version_serves_the_same_decisions(unfused):
    manifest = verify_artifact(unfused)
    source = Manifest.load(FUSED)
    assert manifest.ref == "minilm-l2@test-1" and manifest.labels == source.labels
    was = manifest.provenance["rewritten_from"]
    assert was["ref"] == source.ref and was["sha256"] == source.files[MODEL_FILE]
    assert was["passes"] == {"unfuse-skip-layer-norms": 4}
    assert was["command"]  # the command line that ran (pytest's, here)
    assert "rewritten by unfuse-skip-layer-norms (4 nodes)" in model_card(manifest)
    # From the data, export reproduces it: the source's export command, at the new version.
    assert manifest.provenance["command"] == source.provenance["command"].replace(
        "--version 2026-11-25", "--version test-1")
    assert manifest.evaluation["examples"] == 120
    assert manifest.evaluation["drift"]["decision_agreement"] >= 0.97
    assert manifest.evaluation["accuracy"] == manifest.evaluation["rewritten_from_accuracy"]
    old = [p.scores for p in Classifier.load(FUSED).predict(TEXTS, batch_size=1)]
    new = [p.scores for p in Classifier.load(unfused).predict(TEXTS, batch_size=1)]
    for a, b in zip(old, new, strict=True):
        assert max(a, key=a.get) == max(b, key=b.get)
        assert np.allclose(list(a.values()), list(b.values()), atol=0.02)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_first_row_only_gives_every_architecture_the_same_logits(architecture, tiny_models, tmp_path):
    """fp32, fused as export fuses: the rewritten graph's logits are the source graph's, on a
    padded batch of different lengths, and the work after the last attention is on one row."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_models[architecture], attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_models[architecture])
    names = export_onnx(model, tokenizer, tmp_path / "raw.onnx", 17)
    fuse(tmp_path / "raw.onnx", tmp_path / "fused.onnx", model.config)
    for source in ("raw", "fused"):
        counts = rewrite_graph(tmp_path / f"{source}.onnx", tmp_path / f"{source}-rows.onnx",
                               ["first-row-only"])
        assert counts["first-row-only"] >= 4, counts  # at least output dense, residual, LayerNorm, FFN
        rewritten = ops(tmp_path / f"{source}-rows.onnx")
        assert rewritten["Slice"] - ops(tmp_path / f"{source}.onnx")["Slice"] >= 1
        batch = tokenizer(TEXTS[:8], padding=True, return_tensors="np")
        feed = {n: batch[n].astype(np.int64) for n in names}
        before = session(tmp_path / f"{source}.onnx").run(None, feed)[0]
        after = session(tmp_path / f"{source}-rows.onnx").run(None, feed)[0]
        assert after.shape == before.shape
        np.testing.assert_allclose(after, before, atol=1e-5, rtol=1e-4)


def test_first_row_only_leaves_a_graph_that_serves_every_row(tmp_path):
    """When the last hidden state is also a graph output, no operator feeds only the first row."""
    model = onnx.load(str(DEFAULT / MODEL_FILE))
    gather = next(n for n in model.graph.node if n.op_type == "Gather" and "pooler" in n.name)
    hidden = onnx.helper.make_tensor_value_info(gather.input[0], onnx.TensorProto.FLOAT, None)
    model.graph.output.append(hidden)
    before = list(model.graph.node)
    assert first_row_only(model) == 0
    assert list(model.graph.node) == before
    assert unfuse_skip_layer_norms(model) == 0  # and nothing fused to unfuse


def test_the_default_rewritten_to_its_first_row_serves_the_same_decisions(rows, emotion_dir):
    manifest = verify_artifact(rows)
    source = Manifest.load(DEFAULT)
    assert manifest.provenance["rewritten_from"]["passes"] == {
        "unfuse-skip-layer-norms": 0, "first-row-only": 22}
    after = ops(rows / MODEL_FILE)
    assert after["Slice"] == 2 and after - collections.Counter({"Slice": 2}) == ops(DEFAULT / MODEL_FILE)
    assert manifest.evaluation["drift"]["clear_decision_agreement"] >= 0.97
    assert manifest.evaluation["unseen"] is bool(source.evaluation.get("unseen"))
    old = [p.scores for p in Classifier.load(DEFAULT).predict(TEXTS, batch_size=1)]
    new = [p.scores for p in Classifier.load(rows).predict(TEXTS, batch_size=1)]
    same = [max(a, key=a.get) == max(b, key=b.get) for a, b in zip(old, new, strict=True)]
    assert np.mean(same) >= 0.97
    assert np.abs(np.array([list(a.values()) for a in old]) - [list(b.values()) for b in new]).mean() < 0.01


def test_nothing_to_rewrite_an_unknown_pass_same_version_or_a_used_folder_is_refused(rows, tmp_path):
    with pytest.raises(ValueError, match="nothing to rewrite"):
        rewrite(rows, tmp_path / "again", version="test-2")
    with pytest.raises(ValueError, match="unknown passes"):
        rewrite(DEFAULT, tmp_path / "unknown", passes=["fold-everything"], version="test-2")
    with pytest.raises(ValueError, match="immutable"):
        rewrite(FUSED, tmp_path / "same", version="2026-11-25")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        rewrite(FUSED, tmp_path / "used", version="test-2")
    assert not any((tmp_path / name).exists() for name in ("again", "unknown", "same"))


def test_a_rewrite_that_changes_the_decisions_is_not_written(monkeypatch, tmp_path, emotion_dir):
    def broken(model):  # the rewrite, then every LayerNorm's scale negated: wrong logits
        count = unfuse_skip_layer_norms(model)
        scales = {n.input[1] for n in model.graph.node if n.op_type == "LayerNormalization"}
        for tensor in model.graph.initializer:
            if tensor.name in scales:
                array = -onnx.numpy_helper.to_array(tensor)
                tensor.CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))
        return count

    monkeypatch.setitem(training.rewrite.PASSES, "unfuse-skip-layer-norms", broken)
    with pytest.raises(DriftError, match="drifts from minilm-l2@2026-11-25"):
        rewrite(FUSED, tmp_path / "out", passes=["unfuse-skip-layer-norms"], version="test-3",
                eval_data=str(emotion_dir))
    assert not (tmp_path / "out").exists()
