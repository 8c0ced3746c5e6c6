"""Knowledge distillation: a fine-tuned teacher's softened logits train a smaller student.

    loss = alpha * T² * KL(softmax(teacher / T) ‖ softmax(student / T)) + (1 - alpha) * CE(student, labels)

(for multi-label data: binary cross-entropy against sigmoid(teacher / T), and BCE against the labels).
The teacher (a checkpoint, or an exported artifact run through the function's runtime) runs once over
the data; its logits are cached beside the student's folder, keyed by teacher and texts, so several
students distilled from one teacher pay for it once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.augment import augment
from training.catalogue import resolve_checkpoint
from training.checkpoint import CheckpointInfo, load_checkpoint, torch_logits
from training.data import MULTI, TextDataset, load_dataset
from training.metrics import classification_metrics, decisions, probabilities
from training.students import ARCHITECTURES, build_student, rehouse, train_tokenizer
from training.train import (
    EncodedDataset,
    chooser,
    epoch_timer,
    finish_checkpoint,
    load_data,
    metrics_fn,
    multi_label_loss,
    positive_weights,
    trainer_arguments,
)
from training.training_args import DistillConfig

CACHE_DIR = ".distill_cache"
"""Teacher logits are cached here, beside the student's output folder, for the next student."""


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    alpha: float,
    multi_label: bool,
    pos_weight: torch.Tensor | None = None,
    gamma_neg: float = 0.0,
    clip: float = 0.05,
    labelled: torch.Tensor | None = None,
) -> torch.Tensor:
    """alpha · T² · soft loss + (1 − alpha) · hard loss (T² keeps the soft gradients' scale);
    multi-label: the hard loss is `multi_label_loss` (`pos_weight` on the positives, the asymmetric
    loss when gamma_neg > 0; TrainConfig.pos_weight, asl_gamma_neg, asl_clip).
    `labelled` (0/1 per row) marks rows with a true label; the others (transfer texts) carry the
    soft loss alone. None: every row is labelled."""
    t = temperature
    if multi_label:
        soft = F.binary_cross_entropy_with_logits(student / t, torch.sigmoid(teacher / t))
        hard_rows = multi_label_loss(student, labels, pos_weight=pos_weight, gamma_neg=gamma_neg,
                                     clip=clip).mean(dim=-1)
    else:
        soft = F.kl_div(
            F.log_softmax(student / t, dim=-1), F.softmax(teacher / t, dim=-1), reduction="batchmean"
        )
        hard_rows = F.cross_entropy(student, labels, reduction="none")
    if labelled is None:
        hard = hard_rows.mean()
    else:
        weight = labelled.to(hard_rows.dtype)
        hard = (hard_rows * weight).sum() / weight.sum().clamp(min=1.0)
    return alpha * t * t * soft + (1.0 - alpha) * hard


class Teacher:
    """The teacher: a torch checkpoint, or an exported artifact run through the function's runtime
    (several times faster on CPU; its int8 logits are what the served model would say)."""

    def __init__(self, path: str, threads: int | None) -> None:
        from training.evaluate import is_artifact

        self.path = str(Path(path).resolve())
        self.tokenizer = None
        if is_artifact(Path(path)):
            from chat_emotion.runtime import Classifier

            self._classifier = Classifier.load(path, threads=threads or 1)
            manifest = self._classifier.manifest
            self.labels = list(manifest.labels)
            self.threshold = manifest.label_thresholds()
            self.max_length, self.base = manifest.max_length, manifest.base_checkpoint
            self.kind = f"onnx-{manifest.quantization}"
            # How the teacher was made, so the student can be rebuilt from the data alone.
            self.recipe = {k: manifest.provenance.get(k) for k in ("training_command", "command")}
        else:
            self._model, self.tokenizer, info = load_checkpoint(path, threads)
            self.labels, self.threshold = list(info.labels), info.label_thresholds()
            self.max_length, self.base = info.max_length, info.base_checkpoint
            self.kind = "torch"
            self.recipe = {"training_command": info.command, "command": None}

    def logits(self, texts: list[str]) -> np.ndarray:
        if self.kind == "torch":
            return torch_logits(self._model, self.tokenizer, texts, self.max_length, progress=True)
        from training.export import runtime_logits

        return runtime_logits(self._classifier, texts, batch_size=64, progress=True)


class Ensemble:
    """Several teachers as one: the mean of their logits (differently seeded or cut teachers err
    differently, so their mean is a better teacher than each). The first member's tokenizer,
    thresholds and length stand for the ensemble."""

    def __init__(self, members: list[Teacher]) -> None:
        first = members[0]
        for other in members[1:]:
            if other.labels != first.labels:
                raise ValueError(f"teachers disagree on labels: {first.path} has {first.labels}, "
                                 f"{other.path} has {other.labels}")
        self.members = members
        self.path = ",".join(m.path for m in members)
        self.labels, self.threshold, self.max_length = first.labels, first.threshold, first.max_length
        self.tokenizer, self.base = first.tokenizer, first.base
        self.kind = "ensemble(" + ", ".join(m.kind for m in members) + ")"
        self.recipe = [m.recipe for m in members]


def load_teacher(spec: str, threads: int | None) -> Teacher | Ensemble:
    """`--teacher`: one checkpoint or artifact, or several separated by commas (an ensemble)."""
    paths = [part.strip() for part in spec.split(",") if part.strip()]
    if len(paths) == 1:
        return Teacher(paths[0], threads)
    return Ensemble([Teacher(path, threads) for path in paths])


def teacher_logits(cache_dir: Path, teacher: Teacher | Ensemble, texts: list[str]) -> np.ndarray:
    """The teacher's logits for `texts`, cached in `cache_dir` under a key of teacher and texts
    (an ensemble's: the mean of its members', each cached on its own)."""
    if isinstance(teacher, Ensemble):
        return np.mean([teacher_logits(cache_dir, member, texts) for member in teacher.members], axis=0)
    key = "\n".join([teacher.path, teacher.kind, str(teacher.max_length), *texts])
    cache = Path(cache_dir) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if cache.is_file():
        return np.load(cache)
    logits = teacher.logits(texts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, logits)
    return logits


def make_student(config: DistillConfig, train_set: TextDataset, teacher_tokenizer):
    """(student model, its tokenizer, base checkpoint to record) — built small, or loaded pretrained."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = list(train_set.label_names)
    if config.model in ARCHITECTURES and not Path(config.model).exists():
        if config.keep_layers or config.keep_ffn or config.as_architecture:
            raise ValueError(
                f"--keep-layers / --keep-ffn / --as adapt a pretrained student; {config.model!r} is built "
                "from scratch, sized by --layers. Give a model folder or hub id (e.g. the teacher's "
                "checkpoint)"
            )
        if config.tokenizer == "teacher":
            if config.model == "roberta":
                raise ValueError(
                    "a roberta student needs its own byte-level BPE tokenizer: use --tokenizer own"
                )
            if teacher_tokenizer is None:
                raise ValueError("--tokenizer teacher needs a checkpoint teacher, not an exported artifact")
            tokenizer = teacher_tokenizer
        else:
            tokenizer = train_tokenizer(config.model, train_set.texts, config.vocab_size)
        model = build_student(
            config.model,
            tokenizer,
            labels,
            train_set.problem_type,
            layers=config.layers,
            hidden=config.hidden,
            heads=config.heads,
            intermediate=config.intermediate,
        )
        return model, tokenizer, "scratch"
    source, base = resolve_checkpoint(config.model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
        problem_type=train_set.problem_type,
        attn_implementation="eager",
        ignore_mismatched_sizes=True,
    )
    if config.keep_layers:
        keep_layers(model, config.keep_layers)
    if config.keep_ffn:
        keep_ffn(model, config.keep_ffn)
    if config.as_architecture:
        model, tokenizer = rehouse(model, tokenizer, config.as_architecture)
    return model, tokenizer, base


def neighbour_source(student, tokenizer, base: str, teacher_base: str | None):
    """(tokenizer, input embedding table) whose neighbours `--augment` swaps words for: the
    student's own when it starts pretrained, else those of the pretrained model the teacher grew from
    (a student built from scratch has random embeddings)."""
    if base != "scratch":
        return tokenizer, student.get_input_embeddings().weight
    if not teacher_base or teacher_base == "scratch":
        raise ValueError(
            "--augment needs pretrained embeddings to find each word's neighbours: the student is built "
            "from scratch and so was its teacher. Start the student from a model folder or hub id "
            "(e.g. minilm), or distil from a teacher fine-tuned from one"
        )
    from transformers import AutoModel, AutoTokenizer

    source, _ = resolve_checkpoint(teacher_base)
    embeddings = AutoModel.from_pretrained(source).get_input_embeddings().weight
    return AutoTokenizer.from_pretrained(source), embeddings


def keep_layers(model, keep: tuple[int, ...]) -> None:
    """Drop every encoder layer of `model` not in `keep` (in place; the config follows)."""
    base = model.base_model
    stack = base.transformer if hasattr(base, "transformer") else base.encoder  # DistilBERT | the rest
    layers = stack.layer
    if max(keep) >= len(layers):
        raise ValueError(
            f"--keep-layers {list(keep)}: the student has only {len(layers)} layers (0..{len(layers) - 1})"
        )
    stack.layer = torch.nn.ModuleList(layers[i] for i in keep)
    model.config.num_hidden_layers = len(keep)  # DistilBERT maps this onto n_layers


def keep_ffn(model, width: int) -> None:
    """Keep `width` feed-forward neurons in every encoder layer of a BERT-family `model` (in place;
    the config follows): in each layer the neurons whose input row and output column have the
    largest product of L2 norms, the magnitude criterion of structured FFN pruning."""
    if model.config.model_type not in ("bert", "roberta", "electra"):  # MobileBERT: more FFNs
        raise ValueError(
            "--keep-ffn prunes BERT-family layers (bert, roberta, electra, MiniLM); "
            f"{model.config.model_type!r} has no such layers"
        )
    layers = model.base_model.encoder.layer
    size = model.config.intermediate_size
    if width >= size:
        raise ValueError(f"--keep-ffn {width}: the student's feed-forward size is only {size}")
    for layer in layers:
        up, down = layer.intermediate.dense, layer.output.dense
        score = up.weight.norm(dim=1) * down.weight.norm(dim=0)
        keep = torch.sort(torch.topk(score, width).indices).values
        pruned_up = torch.nn.Linear(up.in_features, width)
        pruned_down = torch.nn.Linear(width, down.out_features)
        with torch.no_grad():
            pruned_up.weight.copy_(up.weight[keep])
            pruned_up.bias.copy_(up.bias[keep])
            pruned_down.weight.copy_(down.weight[:, keep])
            pruned_down.bias.copy_(down.bias)
        layer.intermediate.dense, layer.output.dense = pruned_up, pruned_down
    model.config.intermediate_size = width


def distill(config: DistillConfig) -> CheckpointInfo:
    """Distil `config.teacher` into a student on `config.data`; write the student's checkpoint."""
    from transformers import DataCollatorWithPadding, Trainer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if config.threads:
        torch.set_num_threads(config.threads)
    teacher = load_teacher(config.teacher, config.threads)
    config = replace(config, labels=config.labels or teacher.labels)
    train_set, selection, eval_set = load_data(config)
    if list(train_set.label_names) != teacher.labels:
        raise ValueError(
            f"the data's labels {list(train_set.label_names)} differ from the teacher's {teacher.labels}"
        )
    multi = train_set.problem_type == MULTI
    epoch_set = chooser(config, selection, eval_set)
    cache_dir = Path(config.output_dir).resolve().parent / CACHE_DIR
    print(f"teacher ({teacher.kind}) logits for {len(train_set)} training texts")
    soft_train = teacher_logits(cache_dir, teacher, train_set.texts)
    labelled = np.ones(len(train_set), dtype=np.int64)
    originals = train_set.texts
    transfer_texts: list[str] = []
    if config.transfer_data:
        transfer_texts = transfer_set(config.transfer_data, train_set, selection, eval_set)
        print(f"teacher ({teacher.kind}) logits for {len(transfer_texts)} transfer texts")
        train_set, soft_train, labelled = with_soft_texts(
            train_set, soft_train, labelled, transfer_texts,
            teacher_logits(cache_dir, teacher, transfer_texts), teacher.threshold,
        )
    teacher_scores: dict = {}
    soft_epoch = None
    for role, data in (("selection", selection), ("evaluation", eval_set)):
        if data is None:
            continue
        soft = teacher_logits(cache_dir, teacher, data.texts)
        if data is epoch_set:
            soft_epoch = soft
        scores = classification_metrics(
            data.targets(),
            decisions(probabilities(soft, multi), multi, teacher.threshold, teacher.labels),
            data.label_names,
            multi,
        )
        teacher_scores[role] = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
    teacher_eval = teacher_scores.get("evaluation", {})
    teacher_kind, teacher_base, teacher_recipe = teacher.kind, teacher.base, teacher.recipe

    student, tokenizer, base = make_student(config, train_set, teacher.tokenizer)
    augmented: list[str] = []
    if config.augment:
        vocabulary, table = neighbour_source(student, tokenizer, base, teacher_base)
        augmented = unseen_texts(
            augment(originals, vocabulary, table, copies=config.augment, seed=config.seed),
            train_set, selection, eval_set,
        )
        print(f"teacher ({teacher_kind}) logits for {len(augmented)} augmented texts")
        train_set, soft_train, labelled = with_soft_texts(
            train_set, soft_train, labelled, augmented, teacher_logits(cache_dir, teacher, augmented),
            teacher.threshold,
        )
    del teacher
    params = sum(p.numel() for p in student.parameters())
    print(f"student: {student.config.model_type}, {params / 1e6:.2f} M parameters, base {base}")
    info = CheckpointInfo(
        base_checkpoint=base,
        architecture=student.config.model_type,
        labels=list(train_set.label_names),
        problem_type=train_set.problem_type,
        threshold=config.threshold if multi else None,
        max_length=config.max_length,
        dataset=train_set.source,
        command=config.command,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        hyperparameters={k: v for k, v in config.to_dict().items() if k not in ("command", "extra")},
        distillation={
            "teacher": str(config.teacher),
            "teacher_kind": teacher_kind,
            "teacher_base": teacher_base,
            "temperature": config.temperature,
            "alpha": config.alpha,
            "student_parameters": params,
            "teacher_evaluation": teacher_eval,
            "teacher_selection": teacher_scores.get("selection", {}),
            "transfer_data": config.transfer_data,
            "transfer_texts": len(transfer_texts),
            "augment": config.augment,
            "augmented_texts": len(augmented),
            "teacher_recipe": teacher_recipe,
        },
    )

    pos_weight = positive_weights(train_set, config.pos_weight)

    class DistillationTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            soft = inputs.pop("teacher_logits")
            labels = inputs.pop("labels")
            rows = inputs.pop("labelled", None)
            outputs = model(**inputs)
            loss = distillation_loss(
                outputs.logits,
                soft,
                labels,
                temperature=config.temperature,
                alpha=config.alpha,
                multi_label=multi,
                pos_weight=pos_weight,
                gamma_neg=config.asl_gamma_neg,
                clip=config.asl_clip,
                labelled=rows,
            )
            return (loss, outputs) if return_outputs else loss

    trainer = DistillationTrainer(
        model=student,
        args=trainer_arguments(
            config, epoch_set is not None, label_names=["labels"], remove_unused_columns=False
        ),
        train_dataset=EncodedDataset(
            tokenizer, train_set, config.max_length, {"teacher_logits": soft_train, "labelled": labelled}
        ),
        eval_dataset=(
            EncodedDataset(tokenizer, epoch_set, config.max_length, {"teacher_logits": soft_epoch})
            if epoch_set is not None
            else None
        ),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics_fn(epoch_set, config.threshold) if epoch_set else None,
        callbacks=[epoch_timer(info.epoch_seconds, info.history)],
    )
    trainer.train()
    return finish_checkpoint(trainer, tokenizer, config, info, selection, eval_set)


def transfer_set(
    source: str, train_set: TextDataset, *held_out: TextDataset | None
) -> list[str]:
    """The transfer texts of `source` (its train split; labels ignored): distinct, not already
    training rows, and never a text of the selection slice or the validation split."""
    out = unseen_texts(load_dataset(source, "train").texts, train_set, *held_out)
    if not out:
        raise ValueError(
            f"--transfer-data {source}: no text left once training and held-out texts are dropped"
        )
    return out


def unseen_texts(texts: list[str], train_set: TextDataset, *held_out: TextDataset | None) -> list[str]:
    """`texts` without repeats, training rows, or any text of the held-out sets."""
    seen = set(train_set.texts)
    for data in held_out:
        if data is not None:
            seen.update(data.texts)
    out = []
    for text in texts:
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def with_soft_texts(
    data: TextDataset, soft: np.ndarray, labelled: np.ndarray, texts: list[str], logits: np.ndarray,
    threshold: list[float] | None,
) -> tuple[TextDataset, np.ndarray, np.ndarray]:
    """The training set, its teacher logits and its labelled mask, with `texts` appended as rows the
    soft loss alone trains on (transfer texts, augmented variants)."""
    return (
        with_teacher_labels(data, texts, logits, threshold),
        np.concatenate([soft, logits]),
        np.concatenate([labelled, np.zeros(len(texts), dtype=np.int64)]),
    )


def with_teacher_labels(
    data: TextDataset, texts: list[str], logits: np.ndarray, threshold: list[float] | None
) -> TextDataset:
    """`data` with `texts` appended, labelled with the teacher's decisions (placeholders: the hard
    loss skips these rows; the collator only needs a target of the right shape)."""
    multi = data.problem_type == MULTI
    picked = decisions(probabilities(logits, multi), multi, threshold, list(data.label_names))
    labels = [[int(j) for j in np.flatnonzero(row)] for row in picked] if multi else [int(i) for i in picked]
    return replace(data, texts=data.texts + texts, labels=list(data.labels) + labels)
