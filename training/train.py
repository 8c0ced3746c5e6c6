"""Fine-tune a sequence classifier with the Hugging Face Trainer (CUDA when present, CPU otherwise).

The Trainer keeps torchrun / accelerate multi-GPU working unchanged; on CPU, group-by-length
batching keeps padding (and time) low on short texts.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from training.catalogue import resolve_checkpoint
from training.checkpoint import CheckpointInfo
from training.data import MULTI, TextDataset, load_dataset
from training.metrics import classification_metrics, decisions, probabilities
from training.training_args import TrainConfig


class EncodedDataset(Dataset):
    """Tokenized texts with their targets, in the form the Trainer's collator pads."""

    def __init__(
        self, tokenizer, data: TextDataset, max_length: int, extra: dict[str, np.ndarray] | None = None
    ) -> None:
        encoded = tokenizer(data.texts, truncation=True, max_length=max_length)
        targets = data.targets()
        self.rows: list[dict[str, Any]] = []
        for i in range(len(data)):
            row = {key: encoded[key][i] for key in encoded}
            row["labels"] = targets[i].tolist()
            for key, values in (extra or {}).items():
                row[key] = values[i].tolist()
            self.rows.append(row)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


def load_data(config: TrainConfig) -> tuple[TextDataset, TextDataset | None, TextDataset | None]:
    """(training rows, selection slice, validation set), sampled as the config asks; the others use
    the training set's label order. The selection slice is None unless `selection_fraction` > 0;
    whatever chooses (each epoch's evaluation, thresholds) uses `chooser(...)`."""
    train = load_dataset(
        config.data,
        "train",
        label_names=config.labels,
        text_column=config.text_column,
        label_column=config.label_column,
    )
    eval_source = config.eval_data
    if eval_source is None and (Path(config.data).is_dir() or not Path(config.data).exists()):
        eval_source = config.data
    evaluation = None
    if eval_source is not None:
        evaluation = load_dataset(
            eval_source,
            "validation",
            label_names=train.label_names,
            text_column=config.text_column,
            label_column=config.label_column,
        )
        evaluation = evaluation.head(config.max_eval_samples, seed=config.seed)
    if config.final and train.is_multi_label:
        raise ValueError(
            f"{config.data} is multi-label: its thresholds need a slice to be tuned on, so a final run "
            "cannot score the validation split as unseen; use --selection-fraction 0.1 instead of --final"
        )
    selection = None
    if config.selection_fraction > 0:
        train, selection = train.split_off(config.selection_fraction)
    return train.head(config.max_train_samples, seed=config.seed), selection, evaluation


def chooser(
    config: TrainConfig, selection: TextDataset | None, evaluation: TextDataset | None
) -> TextDataset | None:
    """The set that makes the run's choices: the selection slice when there is one; none in a final
    run (its recipe was fixed on a slice before); else the validation split."""
    if selection is not None:
        return selection
    return None if config.final else evaluation


def positive_weights(data: TextDataset, power: float) -> torch.Tensor | None:
    """Multi-label: each label's (negatives / positives) ** power, for BCE's pos_weight; else None."""
    if not data.is_multi_label or power <= 0:
        return None
    targets = data.targets()
    positives = np.maximum(targets.sum(axis=0), 1.0)
    return torch.tensor(((len(targets) - positives) / positives) ** power, dtype=torch.float32)


def multi_label_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    pos_weight: torch.Tensor | None = None,
    gamma_neg: float = 0.0,
    clip: float = 0.05,
) -> torch.Tensor:
    """Per-element loss [rows, labels] for multi-label targets: binary cross-entropy with
    `pos_weight` on the positives, or with gamma_neg > 0 the asymmetric loss (TrainConfig.asl_gamma_neg)."""
    targets = labels.to(logits.dtype)
    weight = None if pos_weight is None else pos_weight.to(logits.device)
    if gamma_neg <= 0:
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, targets, pos_weight=weight, reduction="none")
    positive = torch.nn.functional.logsigmoid(logits)
    if weight is not None:
        positive = positive * weight
    shifted = (torch.sigmoid(logits) - clip).clamp(min=0.0)
    negative = shifted.pow(gamma_neg) * torch.log((1.0 - shifted).clamp(min=1e-8))
    return -(targets * positive + (1.0 - targets) * negative)


def multi_label_trainer(config: TrainConfig, pos_weight: torch.Tensor | None):
    """A Trainer whose loss is `multi_label_loss` (the model's own loss has neither weights nor ASL)."""
    from transformers import Trainer

    class MultiLabelTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = multi_label_loss(outputs.logits, labels, pos_weight=pos_weight,
                                    gamma_neg=config.asl_gamma_neg, clip=config.asl_clip).mean()
            return (loss, outputs) if return_outputs else loss

    return MultiLabelTrainer


def metrics_fn(data: TextDataset, threshold: float):
    """The Trainer's compute_metrics: accuracy and macro-F1 from evaluation logits."""

    def compute(prediction) -> dict[str, float]:
        logits = (
            prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        )
        probs = probabilities(logits, data.is_multi_label)
        # label_ids, not data.targets(): the Trainer may visit the evaluation set in its own order.
        scores = classification_metrics(
            np.asarray(prediction.label_ids),
            decisions(probs, data.is_multi_label, threshold, data.label_names),
            data.label_names,
            data.is_multi_label,
        )
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

    return compute


def trainer_arguments(config: TrainConfig, has_eval: bool, **overrides: Any):
    from transformers import TrainingArguments

    options: dict[str, Any] = dict(
        output_dir=str(Path(config.output_dir) / "trainer"),
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(64, config.batch_size),
        num_train_epochs=config.epochs,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        optim="adamw_torch",
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        eval_strategy="epoch" if has_eval else "no",
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        report_to="none",
        seed=config.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
    )
    options.update(overrides)
    return TrainingArguments(**options)


def epoch_timer(seconds: list[float], history: list[dict[str, Any]]):
    """A TrainerCallback recording wall time per epoch and each epoch's evaluation."""
    from transformers import TrainerCallback

    class EpochTimer(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            seconds.append(round(time.perf_counter() - self.start, 1))

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if metrics:
                history.append(
                    {
                        "epoch": round(state.epoch or 0.0, 2),
                        **{k.removeprefix("eval_"): v for k, v in metrics.items()},
                    }
                )

    return EpochTimer()


def finish_checkpoint(
    trainer,
    tokenizer,
    config: TrainConfig,
    info: CheckpointInfo,
    selection: TextDataset | None,
    evaluation: TextDataset | None,
) -> CheckpointInfo:
    """Save model + tokenizer + training.json, with a final full evaluation of the selection slice
    and of the validation split where they are given. Multi-label thresholds are tuned on the
    selection slice (on the validation split only when there is no slice, which flatters it)."""
    from training.checkpoint import torch_logits

    out = Path(config.output_dir)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    model = trainer.model.eval().cpu()
    tuner = chooser(config, selection, evaluation)
    for role, data in (("selection", selection), ("evaluation", evaluation)):
        if data is None:
            continue
        logits = torch_logits(model, tokenizer, data.texts, config.max_length, progress=True)
        probs = probabilities(logits, data.is_multi_label)
        tuning = None
        if data.is_multi_label and data is tuner:
            from training.thresholds import tune_on

            info.thresholds, tuning = tune_on(probs, data)
        scores = {
            "dataset": data.source,
            "examples": len(data),
            **classification_metrics(
                data.targets(),
                decisions(probs, data.is_multi_label, info.label_thresholds(), data.label_names),
                data.label_names,
                data.is_multi_label,
            ),
        }
        if tuning is not None:
            scores["thresholds_tuning"] = tuning
        if role == "evaluation":
            scores["unseen"] = selection is not None or config.final
        setattr(info, role, scores)
    if selection is not None:
        info.selection["rule"] = selection_rule(config.selection_fraction)
    elif config.final:
        info.selection = {"rule": FINAL_RULE}
    info.write(out)
    return info


FINAL_RULE = (
    "none: the final run of a recipe fixed on a selection slice, on all of train; "
    "nothing was chosen on the validation split"
)


def selection_rule(fraction: float) -> str:
    """How the selection slice was drawn, for the checkpoint and the manifest."""
    return (
        f"training rows whose sha256(text)[:4] (big-endian) < {fraction:g} * 2**32 "
        "(training/data.py TextDataset.split_off)"
    )


def train(config: TrainConfig) -> CheckpointInfo:
    """Fine-tune `config.model` on `config.data`; write the checkpoint to `config.output_dir`."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
    )

    if config.threads:
        torch.set_num_threads(config.threads)
    source, base = resolve_checkpoint(config.model)
    if Path(source).is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    train_set, selection, eval_set = load_data(config)
    labels = list(train_set.label_names)
    problem = train_set.problem_type
    epoch_set = chooser(config, selection, eval_set)
    print(
        f"train: {len(train_set)} examples, {len(labels)} labels ({problem}); "
        f"selection slice: {len(selection) if selection else 0}; "
        f"validation: {len(eval_set) if eval_set else 0}; base: {base}"
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)},
            problem_type=problem,
            attn_implementation="eager",
            ignore_mismatched_sizes=True,
        )
    except OSError as err:
        raise RuntimeError(
            f"cannot load {source!r}: {err}. Offline, use a catalogue name with local weights "
            "('minilm') or a model folder"
        ) from err
    threshold = config.threshold if problem == MULTI else None
    info = CheckpointInfo(
        base_checkpoint=base,
        architecture=model.config.model_type,
        labels=labels,
        problem_type=problem,
        threshold=threshold,
        max_length=config.max_length,
        dataset=train_set.source,
        command=config.command,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        hyperparameters={k: v for k, v in config.to_dict().items() if k not in ("command", "extra")},
    )
    pos_weight = positive_weights(train_set, config.pos_weight)
    custom_loss = pos_weight is not None or (train_set.is_multi_label and config.asl_gamma_neg > 0)
    trainer_class = multi_label_trainer(config, pos_weight) if custom_loss else Trainer
    trainer = trainer_class(
        model=model,
        args=trainer_arguments(config, epoch_set is not None),
        train_dataset=EncodedDataset(tokenizer, train_set, config.max_length),
        eval_dataset=EncodedDataset(tokenizer, epoch_set, config.max_length) if epoch_set else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics_fn(epoch_set, config.threshold) if epoch_set else None,
        callbacks=[epoch_timer(info.epoch_seconds, info.history)],
    )
    trainer.train()
    return finish_checkpoint(trainer, tokenizer, config, info, selection, eval_set)
