"""train → export → evaluate → publish on tiny random models of all five architectures.

Each architecture's tokenizer (WordPiece, byte-level BPE) and export path (inputs, fusion, int8) is
proven end to end, and the exported artifact is scored through the Cloud Function's own runtime.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from chat_emotion.artifact import MODEL_FILE, Manifest, verify_artifact
from chat_emotion.runtime import Classifier

from training.checkpoint import CheckpointInfo
from training.cli import main
from training.evaluate import CheckpointPredictor, evaluate
from training.export import DriftError, ExportOptions, export
from training.publish import model_card, publish
from training.students import ARCHITECTURES, INPUT_NAMES
from training.train import train
from training.training_args import TrainConfig

# Tiny models learn the synthetic cues in a few seconds at a high learning rate; MobileBERT's deep
# bottleneck stack learns slower and less steadily (0.54-0.77 after 228 steps, depending on the
# random start), so its bar is twice chance (1/6): it must have learned something.
# The bars hold at FAST's 12 epochs whatever the tokenizer: WordPiece training is not deterministic
# (huggingface/tokenizers#1794: hash-map order breaks merge ties), so the tiny BERT's vocabulary, and
# with it the start, differs run to run; at 6 epochs a final run scored 0.35-1.0 over six draws.
MIN_ACCURACY = {"bert": 0.8, "distilbert": 0.8, "roberta": 0.8, "electra": 0.8, "mobilebert": 0.35}
FAST = dict(epochs=12, learning_rate=3e-3, warmup_ratio=0.1, threads=1, logging_steps=1000)


def train_tiny(model_dir, data_dir, out_dir, **changes):
    return train(
        TrainConfig(model=str(model_dir), data=str(data_dir), output_dir=str(out_dir), **(FAST | changes))
    )


@pytest.fixture(scope="module", params=ARCHITECTURES)
def exported(request, tmp_path_factory, tiny_models, emotion_dir):
    arch = request.param
    checkpoint = tmp_path_factory.mktemp(f"ck-{arch}")
    info = train_tiny(tiny_models[arch], emotion_dir, checkpoint)
    artifact = tmp_path_factory.mktemp(f"art-{arch}") / "artifact"
    manifest = export(
        ExportOptions(
            checkpoint=str(checkpoint),
            output_dir=str(artifact),
            name=arch,
            version="test-1",
            eval_data=str(emotion_dir),
            threads=1,
            command="pytest",
        )
    )
    return arch, checkpoint, info, artifact, manifest


def test_checkpoint_records_training(exported):
    arch, checkpoint, info, _, _ = exported
    assert info.architecture == arch
    assert len(info.epoch_seconds) == 12 and all(s > 0 for s in info.epoch_seconds)
    assert [round(h["epoch"]) for h in info.history] == list(range(1, 13))
    assert json.loads((checkpoint / "training.json").read_text())["labels"] == info.labels
    if MIN_ACCURACY[arch] is not None:
        assert info.evaluation["accuracy"] >= MIN_ACCURACY[arch], info.history


def test_artifact_follows_the_contract(exported):
    arch, _, info, artifact, manifest = exported
    assert verify_artifact(artifact) == Manifest.load(artifact) == manifest
    assert manifest.name == arch and manifest.architecture == arch
    assert manifest.labels == info.labels and manifest.quantization == "int8" and manifest.threshold is None
    expected_inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in INPUT_NAMES[arch]]
    assert manifest.input_names == expected_inputs
    graph = onnx.load(str(artifact / MODEL_FILE)).graph
    assert [i.name for i in graph.input] == expected_inputs
    assert [o.name for o in graph.output] == ["logits"]
    ops = {node.op_type for node in graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul", "QAttention"}, f"not quantized: {sorted(ops)}"
    assert "SkipLayerNormalization" not in ops  # slower than Add + LayerNormalization on ORT's CPU kernels
    # After the last attention, only the first token's row (the one the head reads) is computed on.
    assert manifest.provenance["export"]["first_row_only"] >= 4 and "Slice" in ops
    if arch != "mobilebert":
        assert manifest.provenance["export"]["fused_operators"].get("Attention", 0) >= 2
    assert manifest.evaluation["examples"] == 120
    assert manifest.provenance["command"] == "pytest"


def test_runtime_agrees_with_torch(exported, emotion_dir):
    _, checkpoint, _, artifact, _ = exported
    texts = [line.rsplit(";", 1)[0] for line in (emotion_dir / "val.txt").read_text().splitlines()][:40]
    onnx_probs = np.array(
        [[p.scores[label] for label in p.scores] for p in Classifier.load(artifact).predict(texts)]
    )
    torch_probs = CheckpointPredictor(checkpoint, threads=1).probabilities(texts, 16)
    assert np.abs(onnx_probs - torch_probs).mean() < 0.03


def test_evaluate_artifact_and_checkpoint(exported, emotion_dir):
    arch, checkpoint, _, artifact, manifest = exported
    served = evaluate(artifact, str(emotion_dir), threads=1)
    source = evaluate(checkpoint, str(emotion_dir), threads=1)
    assert served["kind"] == "onnx" and source["kind"] == "torch"
    assert served["accuracy"] == pytest.approx(manifest.evaluation["accuracy"])
    assert abs(served["accuracy"] - source["accuracy"]) <= 0.05
    assert sum(map(sum, served["confusion_matrix"])) == served["examples"] == 120
    assert set(served["per_label"]) == set(manifest.labels)
    assert served["latency_ms_p50"] > 0 and served["ms_per_message_batched"] > 0


@pytest.fixture(scope="module")
def bert_checkpoint(tmp_path_factory, tiny_models, emotion_dir):
    checkpoint = tmp_path_factory.mktemp("ck-bert-extra")
    train_tiny(tiny_models["bert"], emotion_dir, checkpoint, epochs=2)
    return checkpoint


def test_fp32_export_matches_torch_closely(bert_checkpoint, tmp_path):
    manifest = export(
        ExportOptions(
            checkpoint=str(bert_checkpoint), output_dir=str(tmp_path / "a"), quantization="fp32", threads=1
        )
    )
    assert manifest.quantization == "fp32"
    assert manifest.evaluation["drift"]["mean_abs_prob_diff"] < 1e-4
    assert manifest.name == "bert"  # no catalogue base: named after the architecture


def test_export_refuses_to_write_a_drifting_artifact(bert_checkpoint, tmp_path):
    target = tmp_path / "never"
    with pytest.raises(DriftError, match="refusing to write"):
        export(
            ExportOptions(checkpoint=str(bert_checkpoint), output_dir=str(target), tolerance=1e-12, threads=1)
        )
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]  # staging cleaned up


def test_export_will_not_overwrite(bert_checkpoint, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ValueError, match="already exists"):
        ExportOptions(checkpoint=str(bert_checkpoint), output_dir=str(tmp_path / "taken"))


def test_publish_into_a_folder_store(bert_checkpoint, tmp_path, emotion_dir):
    artifact = tmp_path / "artifact"
    export(
        ExportOptions(
            checkpoint=str(bert_checkpoint), output_dir=str(artifact), name="bert", version="v1", threads=1
        )
    )
    store = tmp_path / "store"
    where = publish(artifact, str(store), make_default=True)
    assert where == f"{store}/bert/v1"
    assert (store / "DEFAULT").read_text().strip() == "bert"
    assert (store / "bert" / "LATEST").read_text().strip() == "v1"
    assert "# bert v1" in (store / "bert" / "v1" / "README.md").read_text()
    assert (
        Classifier.load(store / "bert" / "v1").predict(["i am so happy"])[0].label
        in Manifest.load(artifact).labels
    )
    # A store model folder resolves through its LATEST pointer.
    assert evaluate(store / "bert", str(emotion_dir), threads=1)["model"] == "bert@v1 (int8)"


def test_a_final_run_chooses_nothing_and_scores_validation_once_as_unseen(tiny_models, emotion_dir, tmp_path):
    checkpoint = tmp_path / "ck"
    info = train_tiny(tiny_models["bert"], emotion_dir, checkpoint, final=True)
    assert len(info.epoch_seconds) == FAST["epochs"] and info.history == []  # no evaluation between epochs
    assert info.evaluation["unseen"] is True and info.evaluation["accuracy"] >= MIN_ACCURACY["bert"]
    assert info.selection["rule"].startswith("none: the final run")
    manifest = export(
        ExportOptions(
            checkpoint=str(checkpoint), output_dir=str(tmp_path / "art"), eval_data=str(emotion_dir),
            threads=1,
        )
    )
    assert manifest.evaluation["unseen"] is True
    assert manifest.provenance["selection"]["rule"] == info.selection["rule"]
    assert "Scored once, as unseen text" in model_card(manifest)


def test_a_run_that_chose_on_validation_is_not_called_unseen(exported):
    _, _, info, _, manifest = exported
    assert info.evaluation["unseen"] is False and manifest.evaluation["unseen"] is False
    assert "Not unseen text: this split also chose" in model_card(manifest)


@pytest.mark.parametrize("loss", ["bce", "asl"])
def test_multi_label_pipeline(tmp_path, tiny_models, loss):
    from tests.training.conftest import CUES, LABELS

    rows = []
    for i in range(240):
        first, second = LABELS[i % 6], LABELS[(i // 6) % 6]
        chosen = sorted({LABELS.index(first), LABELS.index(second)})
        rows.append({"text": f"i feel {CUES[first][i % 4]} and {CUES[second][(i + 1) % 4]}", "label": chosen})
    data = tmp_path / "multi.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    checkpoint = tmp_path / "ck"
    info = train(
        TrainConfig(
            model=str(tiny_models["bert"]),
            data=str(data),
            eval_data=str(data),
            output_dir=str(checkpoint),
            labels=list(LABELS),
            asl_gamma_neg=4.0 if loss == "asl" else 0.0,
            **(FAST | {"epochs": 6}),
        )
    )
    assert info.problem_type == "multi_label_classification" and info.threshold == 0.30
    assert info.hyperparameters["asl_gamma_neg"] == (4.0 if loss == "asl" else 0.0)
    # Per-label thresholds tuned on the evaluation set, for every label, and reported three ways.
    assert set(info.thresholds) == set(LABELS) and all(0 < t < 1 for t in info.thresholds.values())
    tuning = info.evaluation["thresholds_tuning"]
    assert tuning["macro_f1_per_label_thresholds"] >= tuning["macro_f1_at_0_5"] - 1e-9
    assert tuning["macro_f1_per_label_thresholds"] == pytest.approx(info.evaluation["macro_f1"])
    # `emotion-train thresholds` re-tunes a checkpoint in place, to the same values on the same data.
    assert main(["thresholds", str(checkpoint), "--data", str(data)]) == 0
    assert CheckpointInfo.read(checkpoint).thresholds == info.thresholds
    manifest = export(
        ExportOptions(
            checkpoint=str(checkpoint), output_dir=str(tmp_path / "art"), eval_data=str(data), threads=1
        )
    )
    assert manifest.problem_type == "multi_label_classification" and manifest.threshold == 0.30
    assert manifest.evaluation["macro_f1"] >= 0.5
    assert manifest.thresholds == info.thresholds  # train -> export -> manifest
    assert manifest.provenance["export"]["thresholds"] == "the checkpoint's"
    retuned = export(ExportOptions(checkpoint=str(checkpoint), output_dir=str(tmp_path / "art2"),
                                   eval_data=str(data), threads=1, retune_thresholds=True))
    # tuned on the int8 model's own probabilities: at least as good there as the checkpoint's cuts
    assert set(retuned.thresholds) == set(LABELS)
    assert retuned.evaluation["macro_f1"] >= manifest.evaluation["macro_f1"] - 1e-9
    assert "tuned on this artifact" in retuned.provenance["export"]["thresholds"]
    # A final run would have no slice to tune the thresholds on: refused before any training.
    with pytest.raises(ValueError, match="multi-label: its thresholds need a slice"):
        train(TrainConfig(model=str(tiny_models["bert"]), data=str(data), eval_data=str(data),
                          output_dir=str(tmp_path / "final"), labels=list(LABELS), final=True, **FAST))
    cuts = manifest.thresholds
    for prediction in Classifier.load(tmp_path / "art").predict([r["text"] for r in rows[:24]]):
        # runtime: exactly the labels at or over their own threshold, highest first
        assert prediction.labels == sorted((k for k, p in prediction.scores.items() if p >= cuts[k]),
                                           key=lambda k: -prediction.scores[k])
        top = max(prediction.scores, key=prediction.scores.get)
        assert prediction.label == (prediction.labels or [top])[0]
