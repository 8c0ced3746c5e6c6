"""chat_emotion.runtime on tiny real models: ONNX Runtime against torch, batching, the model cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from chat_emotion.artifact import ArtifactCorruptError, Manifest, build_manifest
from chat_emotion.runtime import Classifier, ModelCache, estimate_model_bytes, session_options

from tests.support.tiny_model import REFERENCE_TEXTS, TinyArtifact


@pytest.fixture(scope="module")
def classifiers(tiny_artifacts: dict[str, TinyArtifact]) -> dict[str, Classifier]:
    return {kind: Classifier.load(a.directory) for kind, a in tiny_artifacts.items()}


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_onnx_matches_torch(classifiers: dict[str, Classifier], tiny_artifacts: dict[str, TinyArtifact],
                            kind: str) -> None:
    expected = np.array(tiny_artifacts[kind].reference_logits)
    # One batch padded to its longest text: padding must not change any text's logits.
    np.testing.assert_allclose(classifiers[kind].logits(REFERENCE_TEXTS), expected, atol=1e-4)
    for text, row in zip(REFERENCE_TEXTS, expected, strict=True):
        np.testing.assert_allclose(classifiers[kind].logits([text])[0], row, atol=1e-4)


def test_single_label_probabilities(classifiers: dict[str, Classifier]) -> None:
    classifier = classifiers["single"]
    (p,) = classifier.predict(["i feel so happy today"])
    logits = classifier.logits(["i feel so happy today"])[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert list(p.scores) == classifier.labels
    np.testing.assert_allclose(list(p.scores.values()), expected, rtol=1e-5)
    assert p.label == "joy" and p.labels == ["joy"] and p.score == max(p.scores.values())


def test_multi_label_threshold(classifiers: dict[str, Classifier]) -> None:
    (p,) = classifiers["multi"].predict(["thank you"])
    assert p.labels == sorted(p.labels, key=lambda label: -p.scores[label])
    over = {label for label, s in p.scores.items() if s >= 0.5}
    assert set(p.labels) == over == {"admiration", "gratitude"}
    assert min(p.scores.values()) > 0.0 and max(p.scores.values()) < 1.0


def test_batches_keep_order_and_match_one_by_one(classifiers: dict[str, Classifier]) -> None:
    texts = [("wow " * n).strip() for n in (9, 1, 30, 4, 2, 17, 1)]
    batched = classifiers["single"].predict(texts, batch_size=3)
    alone = [classifiers["single"].predict([t])[0] for t in texts]
    for b, a in zip(batched, alone, strict=True):
        assert b.label == a.label
        assert b.scores == pytest.approx(a.scores, abs=1e-5)


def test_long_text_is_truncated_to_max_length(classifiers: dict[str, Classifier]) -> None:
    classifier = classifiers["single"]
    long_text = "i feel so happy today " * 500  # far past max_length=32 and the 34 position embeddings
    assert classifier.logits([long_text]).shape == (1, len(classifier.labels))
    assert classifier.predict([]) == []
    with pytest.raises(TypeError):
        classifier.predict("one string")  # type: ignore[arg-type]


def _copy(artifact: TinyArtifact, tmp_path: Path) -> Path:
    target = tmp_path / artifact.directory.name
    shutil.copytree(artifact.directory, target)
    return target


def test_load_verifies_and_checks_the_manifest_against_the_graph(tiny_artifacts: dict[str, TinyArtifact],
                                                                 tmp_path: Path) -> None:
    directory = _copy(tiny_artifacts["single"], tmp_path)
    manifest = Manifest.load(directory)
    fields = {k: v for k, v in manifest.to_dict().items() if k != "files"}
    build_manifest(directory, **{**fields, "input_names": ["input_ids", "attention_mask"]})
    with pytest.raises(ArtifactCorruptError, match="inputs"):
        Classifier.load(directory)
    build_manifest(directory, **{**fields, "labels": ["a", "b"]})
    with pytest.raises(ArtifactCorruptError, match="logits"):
        Classifier.load(directory)
    (directory / "tokenizer.json").write_text("{}")
    with pytest.raises(ArtifactCorruptError, match="sha256"):
        Classifier.load(directory)
    build_manifest(directory, **fields)  # digests now match a broken tokenizer: it must still fail
    with pytest.raises(ArtifactCorruptError, match="tokenizer"):
        Classifier.load(directory)


def test_session_options_for_cold_start() -> None:
    options = session_options(threads=2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_model_cache_evicts_least_recently_used(classifiers: dict[str, Classifier]) -> None:
    size = classifiers["single"].estimated_bytes()
    assert size == estimate_model_bytes(classifiers["single"].directory) > 0
    cache = ModelCache(budget_bytes=int(size * 2.5))  # room for two of these models, not three
    loads: list[str] = []

    def loader(key: str):
        def load() -> Classifier:
            loads.append(key)
            return classifiers["single"]
        return load

    for key in ("a", "b", "a", "c"):  # `a` used again before `c` arrives: `b` is the LRU
        cache.get(key, loader(key))
    assert cache.keys() == ["a", "c"] and loads == ["a", "b", "c"]
    assert cache.used_bytes <= cache.budget_bytes
    tiny_budget = ModelCache(budget_bytes=1)  # a model larger than the budget is still served, alone
    tiny_budget.get("a", loader("a"))
    tiny_budget.get("b", loader("b"))
    assert tiny_budget.keys() == ["b"]


def test_model_cache_loads_once_under_concurrency(classifiers: dict[str, Classifier]) -> None:
    cache = ModelCache()
    calls: list[int] = []
    gate = threading.Event()

    def slow_load() -> Classifier:
        calls.append(1)
        gate.wait(5)
        return classifiers["single"]

    threads = [threading.Thread(target=cache.get, args=("k", slow_load)) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert calls == [1] and len(cache) == 1


def test_serving_stack_imports_neither_torch_nor_transformers() -> None:
    code = ("import sys, json, chat_emotion.runtime, chat_emotion.handler, chat_emotion.store; "
            "print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
