"""Knowledge distillation: the loss is the textbook one, and a tiny teacher → student run works end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.checkpoint import CheckpointInfo
from training.distill import (
    CACHE_DIR,
    Teacher,
    distill,
    distillation_loss,
    keep_ffn,
    keep_layers,
    neighbour_source,
    teacher_logits,
)
from training.export import ExportOptions, drift, export
from training.metrics import probabilities
from training.train import train
from training.training_args import DistillConfig, TrainConfig


def test_alpha_zero_is_plain_cross_entropy():
    student, teacher = torch.randn(8, 6), torch.randn(8, 6)
    labels = torch.randint(0, 6, (8,))
    loss = distillation_loss(student, teacher, labels, temperature=3.0, alpha=0.0, multi_label=False)
    assert torch.allclose(loss, F.cross_entropy(student, labels))


def test_soft_term_is_temperature_squared_kl():
    student, teacher = torch.randn(8, 6), torch.randn(8, 6)
    labels = torch.randint(0, 6, (8,))
    t = 2.5
    p_teacher = F.softmax(teacher / t, dim=-1)
    kl = (p_teacher * (p_teacher.log() - F.log_softmax(student / t, dim=-1))).sum(-1).mean()
    loss = distillation_loss(student, teacher, labels, temperature=t, alpha=1.0, multi_label=False)
    assert torch.allclose(loss, t * t * kl, atol=1e-5)
    # A student that already matches the teacher has nothing left to learn from it.
    same = distillation_loss(teacher, teacher, labels, temperature=t, alpha=1.0, multi_label=False)
    assert same.abs() < 1e-5


def test_multi_label_uses_binary_cross_entropy():
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    labels = (torch.rand(4, 5) > 0.5).float()
    hard = distillation_loss(student, teacher, labels, temperature=2.0, alpha=0.0, multi_label=True)
    assert torch.allclose(hard, F.binary_cross_entropy_with_logits(student, labels))
    soft = distillation_loss(student, teacher, labels, temperature=2.0, alpha=1.0, multi_label=True)
    expected = 4.0 * F.binary_cross_entropy_with_logits(student / 2.0, torch.sigmoid(teacher / 2.0))
    assert torch.allclose(soft, expected)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_models, emotion_dir):
    folder = tmp_path_factory.mktemp("teacher")
    train(
        TrainConfig(
            model=str(tiny_models["bert"]),
            data=str(emotion_dir),
            output_dir=str(folder),
            epochs=8,
            learning_rate=5e-3,
            threads=1,
            logging_steps=1000,
        )
    )
    return folder


def test_distil_a_roberta_student_with_its_own_tokenizer(teacher, emotion_dir, tmp_path):
    out = tmp_path / "student"
    info = distill(
        DistillConfig(
            model="roberta",
            teacher=str(teacher),
            data=str(emotion_dir),
            output_dir=str(out),
            layers=1,
            hidden=32,
            heads=2,
            intermediate=64,
            vocab_size=300,
            epochs=8,
            learning_rate=5e-3,
            temperature=2.0,
            alpha=0.7,
            threads=1,
            logging_steps=1000,
        )
    )
    assert info.architecture == "roberta" and info.base_checkpoint == "scratch"
    assert info.distillation["teacher"] == str(teacher)
    assert info.distillation["alpha"] == 0.7 and info.distillation["student_parameters"] > 0
    assert 0.0 <= info.distillation["teacher_evaluation"]["accuracy"] <= 1.0
    assert info.evaluation["accuracy"] > 1 / 6 + 0.1  # well above chance on the synthetic cues
    assert list((tmp_path / CACHE_DIR).glob("*.npy")), "teacher logits are cached beside the student"
    manifest = export(
        ExportOptions(checkpoint=str(out), output_dir=str(tmp_path / "artifact"), name="roberta", threads=1)
    )
    assert manifest.base_checkpoint == "scratch" and manifest.provenance["distillation"]["alpha"] == 0.7
    assert manifest.input_names == ["input_ids", "attention_mask"]


def test_teacher_logits_come_from_the_cache_the_second_time(teacher, tmp_path):
    texts = ["i feel happy", "so scared now"]
    first = teacher_logits(tmp_path, Teacher(str(teacher), 1), texts)
    gone = Teacher(str(teacher), 1)
    gone.logits = None  # a cache miss would now fail
    second = teacher_logits(tmp_path, gone, texts)
    assert np.array_equal(first, second) and first.shape == (2, 6)


def test_an_exported_artifact_can_teach(teacher, emotion_dir, tmp_path):
    artifact = tmp_path / "teacher-artifact"
    options = ExportOptions(checkpoint=str(teacher), output_dir=str(artifact), threads=1)
    export(options)
    texts = [line.rsplit(";", 1)[0] for line in (emotion_dir / "val.txt").read_text().splitlines()]
    onnx_teacher = Teacher(str(artifact), 1)
    assert onnx_teacher.kind == "onnx-int8"
    # int8 logits are judged the way export judged the artifact: probabilities, within its tolerance.
    # (Raw logits of a tiny random-ish model can move by more than 0.5 under int8 and still agree.)
    measured = drift(
        probabilities(Teacher(str(teacher), 1).logits(texts), False),
        probabilities(onnx_teacher.logits(texts), False),
        False,
        None,
    )
    assert measured["mean_abs_prob_diff"] <= options.tolerance
    assert measured["clear_decision_agreement"] >= options.min_agreement


def test_teacher_student_label_mismatch_is_refused(teacher, tmp_path):
    data = tmp_path / "other.txt"
    data.write_text("a;red\nb;blue\n")
    with pytest.raises(ValueError):
        distill(
            DistillConfig(
                model="bert", teacher=str(teacher), data=str(data), output_dir=str(tmp_path / "s"), threads=1
            )
        )


@pytest.mark.parametrize("architecture", ["bert", "distilbert"])
def test_keep_layers_takes_the_chosen_layers_weights(tiny_models, architecture):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_models[architecture])
    stack = model.base_model.transformer if architecture == "distilbert" else model.base_model.encoder
    second = {k: v.clone() for k, v in stack.layer[1].state_dict().items()}
    keep_layers(model, (1,))
    assert len(stack.layer) == 1 and model.config.num_hidden_layers == 1
    for name, value in stack.layer[0].state_dict().items():
        assert torch.equal(value, second[name]), name
    with pytest.raises(ValueError, match="only 1 layers"):
        keep_layers(model, (0, 1))


@pytest.mark.parametrize("architecture", ["bert", "roberta", "electra"])
def test_keep_ffn_keeps_the_largest_neurons_and_drops_only_the_rest(tiny_models, architecture):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_models[architecture]).eval()
    layer = model.base_model.encoder.layer[0]
    up, down = layer.intermediate.dense, layer.output.dense
    score = up.weight.norm(dim=1) * down.weight.norm(dim=0)
    kept = set(torch.topk(score, 16).indices.tolist())
    hidden = torch.randn(3, 5, model.config.hidden_size)
    with torch.no_grad():  # what the full layer gives with the dropped neurons' activations zeroed
        active = layer.intermediate(hidden)
        active[..., [i for i in range(score.numel()) if i not in kept]] = 0
        expected = torch.nn.functional.linear(active, down.weight, down.bias)
    keep_ffn(model, 16)
    assert model.config.intermediate_size == 16
    assert all(block.intermediate.dense.out_features == 16 for block in model.base_model.encoder.layer)
    with torch.no_grad():
        pruned = layer.output.dense(layer.intermediate(hidden))
    assert torch.allclose(pruned, expected, atol=1e-5)
    with pytest.raises(ValueError, match="feed-forward size is only 16"):
        keep_ffn(model, 16)


@pytest.mark.parametrize("architecture", ["distilbert", "mobilebert"])
def test_keep_ffn_is_refused_where_there_is_no_bert_feed_forward(tiny_models, architecture):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_models[architecture])
    with pytest.raises(ValueError, match="BERT-family"):
        keep_ffn(model, 16)


def distill_quickly(teacher, data_dir, out_dir, **changes):
    """The tiny teacher's own weights, adapted as `changes` say, distilled from it for two epochs."""
    return distill(
        DistillConfig(model=str(teacher), teacher=str(teacher), data=str(data_dir), output_dir=str(out_dir),
                      epochs=2, learning_rate=5e-3, threads=1, logging_steps=1000, **changes)
    )


def test_a_trimmed_pretrained_student_distils_and_exports(teacher, emotion_dir, tmp_path):
    from transformers import AutoConfig

    out = tmp_path / "trimmed"
    info = distill_quickly(teacher, emotion_dir, out, keep_layers=(1,), keep_ffn=32)
    saved = AutoConfig.from_pretrained(out)
    assert (saved.num_hidden_layers, saved.intermediate_size) == (1, 32)
    # It records the model the teacher grew from, not a path to the teacher on this machine.
    assert info.base_checkpoint == CheckpointInfo.read(teacher).base_checkpoint != str(teacher)
    assert json.loads((out / "training.json").read_text())["hyperparameters"]["keep_layers"] == [1]
    assert info.evaluation["accuracy"] > 1 / 6 + 0.1
    manifest = export(ExportOptions(checkpoint=str(out), output_dir=str(tmp_path / "artifact"), threads=1))
    assert manifest.labels == info.labels


def test_augmented_texts_are_taught_by_the_teacher_and_recorded(teacher, emotion_dir, tmp_path):
    info = distill_quickly(teacher, emotion_dir, tmp_path / "augmented", keep_layers=(1,), augment=2)
    rows = len((emotion_dir / "train.txt").read_text().splitlines())
    made = info.distillation["augmented_texts"]
    assert info.distillation["augment"] == 2 and rows // 2 < made <= 2 * rows
    assert info.evaluation["accuracy"] > 1 / 6 + 0.1
    # A student built from scratch swaps words by the embeddings of the model its teacher grew from.
    scratch = distill(DistillConfig(model="bert", augment=1, layers=1, hidden=32, heads=2, intermediate=64,
                                    vocab_size=300, teacher=str(teacher), data=str(emotion_dir), epochs=2,
                                    output_dir=str(tmp_path / "s"), threads=1, logging_steps=1000))
    assert scratch.base_checkpoint == "scratch" and scratch.distillation["augmented_texts"] > rows // 4
    with pytest.raises(ValueError, match="so was its teacher"):
        neighbour_source(None, None, "scratch", "scratch")
    with pytest.raises(ValueError, match="augment must be"):
        DistillConfig(model="bert", augment=-1, teacher=str(teacher), data=str(emotion_dir),
                      output_dir=str(tmp_path / "s"))


def test_keep_layers_is_refused_for_a_scratch_student_and_when_unordered(teacher, emotion_dir, tmp_path):
    with pytest.raises(ValueError, match="built from scratch"):
        distill(
            DistillConfig(
                model="bert",
                keep_layers=(0,),
                teacher=str(teacher),
                data=str(emotion_dir),
                output_dir=str(tmp_path / "s"),
                threads=1,
            )
        )
    with pytest.raises(ValueError, match="ascending"):
        DistillConfig(
            model=str(teacher),
            keep_layers=(2, 0),
            teacher=str(teacher),
            data=str(emotion_dir),
            output_dir=str(tmp_path / "s"),
        )


def test_an_ensemble_teaches_the_mean_of_its_members_logits(teacher, tmp_path):
    from training.distill import Ensemble, load_teacher

    texts = ["i feel happy", "so scared now", "angry at work"]
    one = teacher_logits(tmp_path, Teacher(str(teacher), 1), texts)
    artifact = tmp_path / "artifact"
    export(ExportOptions(checkpoint=str(teacher), output_dir=str(artifact), threads=1))
    other = teacher_logits(tmp_path, Teacher(str(artifact), 1), texts)
    ensemble = load_teacher(f"{teacher}, {artifact}", 1)
    assert isinstance(ensemble, Ensemble) and ensemble.kind == "ensemble(torch, onnx-int8)"
    assert ensemble.labels == Teacher(str(teacher), 1).labels
    assert np.allclose(teacher_logits(tmp_path, ensemble, texts), (one + other) / 2)
    assert isinstance(load_teacher(str(teacher), 1), Teacher)


def test_transfer_texts_carry_the_soft_loss_alone(emotion_dir, tmp_path):
    from training.data import load_dataset
    from training.distill import transfer_set, with_teacher_labels

    train_set = load_dataset(emotion_dir, "train")
    rest, held = train_set.split_off(0.2)
    val = load_dataset(emotion_dir, "validation", label_names=train_set.label_names)
    new = [f"an unlabelled comment number {i}" for i in range(12)]
    # The transfer corpus overlaps every held-out set, and repeats itself: only its new texts stay.
    mixed = [*new, *new[:3], rest.texts[0], held.texts[0], val.texts[0]]
    lines = (f"{t};{('joy', 'fear')[i % 2]}\n" for i, t in enumerate(mixed))
    (tmp_path / "transfer.txt").write_text("".join(lines))
    texts = transfer_set(str(tmp_path / "transfer.txt"), rest, held, val)
    assert texts == new
    logits = np.eye(6, dtype=np.float32)[np.arange(len(texts)) % 6] * 5
    extended = with_teacher_labels(rest, texts, logits, None)
    assert extended.texts[len(rest):] == texts
    assert extended.labels[len(rest):] == list(np.arange(len(texts)) % 6)
    # Rows without a true label: the hard term ignores them whatever their placeholder label says.
    student, teacher_out = torch.randn(4, 6), torch.randn(4, 6)
    labels = torch.tensor([0, 1, 2, 3])
    mask = torch.tensor([1, 1, 0, 0])
    masked = distillation_loss(student, teacher_out, labels, temperature=2.0, alpha=0.5, multi_label=False,
                               labelled=mask)
    flipped = distillation_loss(student, teacher_out, torch.tensor([0, 1, 5, 4]), temperature=2.0, alpha=0.5,
                                multi_label=False, labelled=mask)
    assert torch.allclose(masked, flipped)
    soft = distillation_loss(student, teacher_out, labels, temperature=2.0, alpha=1.0, multi_label=False)
    hard_two = F.cross_entropy(student[:2], labels[:2])
    assert torch.allclose(masked, 0.5 * soft + 0.5 * hard_two, atol=1e-6)


def test_a_rehoused_bert_computes_what_the_bert_computed(teacher):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.students import INPUT_NAMES, REHOUSABLE, rehouse

    bert = AutoModelForSequenceClassification.from_pretrained(teacher, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    texts = ["i feel happy", "so scared of what comes next, truly terrified", "meh"]  # padded batch
    with torch.no_grad():
        source = tokenizer(texts, padding=True, return_tensors="pt")
        hidden = bert.bert(**source).last_hidden_state
        logits = bert(**source).logits
    real = source["attention_mask"].bool()
    for architecture in REHOUSABLE:
        model, wrapped = rehouse(bert, tokenizer, architecture)
        model.eval()
        if architecture == "mobilebert":  # it builds two LayerNorms with torch's eps (1e-5), not BERT's
            for module in model.modules():
                if isinstance(module, torch.nn.LayerNorm):
                    module.eps = bert.config.layer_norm_eps
        assert model.config.model_type == architecture
        assert wrapped.model_input_names == INPUT_NAMES[architecture]
        inputs = wrapped(texts, padding=True, return_tensors="pt")
        assert torch.equal(inputs["input_ids"], source["input_ids"])  # the same WordPiece tokens
        with torch.no_grad():
            mine = model.base_model(**inputs).last_hidden_state
        assert torch.allclose(mine[real], hidden[real], atol=1e-5), architecture
        if architecture in ("roberta", "mobilebert"):  # BERT's pooler + classifier: dense, tanh, dense
            with torch.no_grad():
                assert torch.allclose(model(**inputs).logits, logits, atol=1e-5), architecture
    with pytest.raises(ValueError, match="a BERT model's weights fit"):
        rehouse(bert, tokenizer, "gpt2")


@pytest.mark.parametrize("architecture", ["distilbert", "mobilebert"])
def test_a_rehoused_student_distils_and_exports_with_its_own_inputs(
    teacher, emotion_dir, tmp_path, architecture
):
    from training.students import INPUT_NAMES

    out = tmp_path / architecture
    info = distill_quickly(teacher, emotion_dir, out, as_architecture=architecture)
    assert info.architecture == architecture
    assert info.evaluation["accuracy"] > 1 / 6 + 0.1
    manifest = export(ExportOptions(checkpoint=str(out), output_dir=str(tmp_path / "artifact"), threads=1))
    assert manifest.architecture == architecture
    assert sorted(manifest.input_names) == sorted(INPUT_NAMES[architecture])
    with pytest.raises(ValueError, match="electra, distilbert, roberta or mobilebert"):
        DistillConfig(model=str(teacher), as_architecture="gpt2", teacher=str(teacher),
                      data=str(emotion_dir), output_dir=str(tmp_path / "s"))


def test_the_asymmetric_loss_spares_easy_negatives_and_keeps_the_positives():
    from training.train import multi_label_loss

    logits = torch.tensor([[3.0, -4.0, 1.0, -1.0], [0.5, 2.0, -6.0, 0.0]], requires_grad=True)
    labels = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0]])
    weight = torch.tensor([1.0, 2.0, 1.5, 3.0])
    bce = F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weight, reduction="none")
    assert torch.allclose(multi_label_loss(logits, labels, pos_weight=weight), bce)  # gamma 0: BCE itself
    asl = multi_label_loss(logits, labels, pos_weight=weight, gamma_neg=4.0, clip=0.05)
    positive, negative = labels.bool(), ~labels.bool()
    assert torch.allclose(asl[positive], bce[positive])  # positives: untouched
    assert (asl[negative] <= bce[negative]).all()  # every negative costs less...
    easy = negative & (torch.sigmoid(logits) < 0.05)
    assert easy.any() and (asl[easy] == 0).all()  # ...and one scored below the clip costs nothing
    hard = negative & (torch.sigmoid(logits) > 0.5)
    assert hard.any() and (asl[hard] > 0).all()  # a confident mistake still costs
    asl.sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[0, 2] > 0  # pushed down: a negative at p 0.73
    # distillation's hard term is the same loss, averaged over the labels of each row
    hard_only = distillation_loss(logits, logits.detach(), labels, temperature=2.0, alpha=0.0,
                                  multi_label=True, pos_weight=weight, gamma_neg=4.0, clip=0.05)
    assert hard_only.item() == pytest.approx(asl.mean().item(), rel=1e-6)
