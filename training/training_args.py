"""Settings for `train` and `distill`: keyword-only dataclasses that validate themselves.

Defaults are the seed study's (models/catalogue.json): learning rate 5e-5, batch 16, 4 epochs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from training.catalogue import seed
from training.data import GOEMOTIONS_THRESHOLD
from training.students import REHOUSABLE

_SEED = seed()


@dataclass(kw_only=True)
class TrainConfig:
    """Everything one fine-tuning run needs."""

    model: str
    """Catalogue name, local model folder or hub id to start from."""
    data: str
    """Training data: a file, a folder (its `train` split) or a hub dataset name."""
    output_dir: str
    """Where the fine-tuned checkpoint (a Hugging Face model folder) is written."""
    eval_data: str | None = None
    """Evaluation data; default: the `validation` split of `data` when `data` is a folder or hub name."""
    learning_rate: float = _SEED.learning_rate
    """AdamW peak learning rate (linear decay)."""
    batch_size: int = _SEED.batch_size
    """Examples per optimisation step (per device)."""
    epochs: float = float(_SEED.epochs)
    """Passes over the training data."""
    max_length: int = 128
    """Tokens per text after truncation, special tokens included."""
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    """Fraction of the steps spent warming the learning rate up."""
    threshold: float = GOEMOTIONS_THRESHOLD
    """Multi-label only: a label is on when its sigmoid is >= threshold."""
    pos_weight: float = 0.0
    """Multi-label only: weigh each label's positives by (negatives / positives) ** pos_weight in the
    binary cross-entropy (0: unweighted; 0.5: the square root, which lifts rare emotions)."""
    asl_gamma_neg: float = 0.0
    """Multi-label only: the asymmetric loss (Ridnik et al., 2021) in place of binary cross-entropy.
    Each negative's term is scaled by p_m ** asl_gamma_neg, where p_m = max(p - asl_clip, 0): the
    many easy negatives of a 28-label set stop drowning the few positives, and negatives the model
    already scores below asl_clip cost nothing. 0: plain BCE; the paper's 4 is a good start."""
    asl_clip: float = 0.05
    """Multi-label asymmetric loss only: the probability shift applied to negatives."""
    group_by_length: bool = True
    """Batch texts of similar length together (halves CPU time on short texts)."""
    max_train_samples: int | None = None
    """Train on a seeded random sample of this many rows (quick runs)."""
    max_eval_samples: int | None = None
    selection_fraction: float = 0.0
    """Hold this fraction of the training rows out (by a hash of each text: the same rows every run)
    as the selection slice: per-epoch evaluation and multi-label thresholds use it, and the
    validation split is only scored at the end, as text nothing was chosen on. 0: no slice (the
    validation split evaluates each epoch, as before)."""
    final: bool = False
    """The final run of a recipe already fixed on a selection slice: train on all of train, evaluate
    nothing per epoch, and score the validation split once at the end as unseen text (nothing was
    chosen on it). Single-label only: a multi-label run's thresholds need a slice to be tuned on."""
    transfer_data: str | None = None
    """Distillation only: more texts for the teacher to label (their own labels are ignored), e.g.
    the GoEmotions comments for the emotion student. Texts also in the selection slice or the
    validation split are dropped."""
    threads: int | None = None
    """torch CPU threads; None leaves torch's default."""
    seed: int = 42
    text_column: str = "text"
    label_column: str = "label"
    labels: list[str] | None = None
    """Label names in id order, when the data cannot say (multi-label JSONL, integer CSV labels)."""
    logging_steps: int = 50
    command: str = ""
    """The command line that started the run, recorded in the checkpoint and manifest."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError(
                "model is required: a catalogue name (e.g. 'minilm'), a model folder or a hub id"
            )
        if not self.data:
            raise ValueError(
                "data is required: a file, a folder such as ../shared/data/emotion, or 'emotion'"
            )
        if not self.output_dir:
            raise ValueError("output_dir is required: the folder the checkpoint is written to")
        _positive("learning_rate", self.learning_rate)
        if self.learning_rate > 1.0:
            raise ValueError(f"learning_rate {self.learning_rate} is far too large; the seed uses 5e-5")
        _positive_int("batch_size", self.batch_size)
        _positive("epochs", self.epochs)
        _positive_int("max_length", self.max_length)
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {self.max_length}")
        if not 0.0 <= self.weight_decay < 1.0:
            raise ValueError(f"weight_decay must be in [0, 1), got {self.weight_decay}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 <= self.pos_weight <= 1.0:
            raise ValueError(
                f"pos_weight must be in [0, 1] (a power of negatives/positives), got {self.pos_weight}")
        if not 0.0 <= self.asl_gamma_neg <= 10.0:
            raise ValueError(f"asl_gamma_neg must be in [0, 10] (the paper uses 4), got {self.asl_gamma_neg}")
        if not 0.0 <= self.asl_clip < 0.5:
            raise ValueError(f"asl_clip must be in [0, 0.5) (the paper uses 0.05), got {self.asl_clip}")
        for name in ("max_train_samples", "max_eval_samples", "threads"):
            value = getattr(self, name)
            if value is not None:
                _positive_int(name, value)
        _positive_int("logging_steps", self.logging_steps)
        if not 0.0 <= self.selection_fraction < 0.5:
            raise ValueError(
                f"selection_fraction must be in [0, 0.5) (0.1 holds a tenth of train out), "
                f"got {self.selection_fraction}"
            )
        if self.final and self.selection_fraction > 0:
            raise ValueError(
                "final trains on all of train: drop --selection-fraction (the recipe's slice run made "
                "its choices already)"
            )
        if (
            self.labels is not None
            and len(set(self.labels)) != len(self.labels)
            or (self.labels is not None and len(self.labels) < 2)
        ):
            raise ValueError(f"labels must be two or more distinct names, got {self.labels}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class DistillConfig(TrainConfig):
    """Knowledge distillation: a fine-tuned teacher's softened logits train a smaller student.

    loss = alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels)
    (sigmoid / binary cross-entropy in place of softmax / KL for multi-label data).
    `model` is the student: an architecture name built small from scratch (`--layers`, `--hidden`),
    or a catalogue name / folder / hub id to start from pretrained weights.
    """

    teacher: str
    """Fine-tuned teacher checkpoint folder (written by `train`)."""
    temperature: float = 2.0
    alpha: float = 0.5
    """Weight of the distillation term; 1 - alpha weighs the hard-label loss."""
    layers: int = 4
    hidden: int = 128
    heads: int = 2
    intermediate: int = 512
    tokenizer: str = "own"
    """`own`: train a WordPiece (BERT family) or byte-level BPE (RoBERTa) tokenizer on the training
    texts; `teacher`: reuse the teacher's tokenizer (WordPiece students only)."""
    vocab_size: int = 8000
    """Vocabulary of an `own` tokenizer."""
    teacher_batch_size: int = 64
    keep_layers: tuple[int, ...] = ()
    """For a pretrained student: keep only these encoder layers (0-based, in order), e.g. (0, 2, 4)
    halves a 6-layer model. Empty keeps them all. Starting from the fine-tuned teacher's own layers
    (DistilBERT's recipe) keeps most of its accuracy at a fraction of the compute."""
    keep_ffn: int = 0
    """For a pretrained BERT-family student: keep this many feed-forward neurons per layer (those
    with the largest weights); 0 keeps them all. Three layers at half the feed-forward width cost
    what two full layers do."""
    as_architecture: str = ""
    """For a pretrained BERT-family student: re-house its (trimmed) weights in this architecture
    (electra, distilbert, roberta) before distilling: the same encoder, a new head. Empty keeps the
    start's own architecture."""
    augment: int = 0
    """This many variants of each training text, words swapped for their nearest neighbours in the
    student's embeddings (a student built from scratch: those of the model its teacher grew from;
    `training.augment`), labelled by the teacher and trained on with the soft loss alone. 0: none."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.teacher:
            raise ValueError("teacher is required: a checkpoint folder written by `emotion-train train`")
        _positive("temperature", self.temperature)
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1] (1 = distillation only), got {self.alpha}")
        for name in ("layers", "hidden", "heads", "intermediate", "vocab_size", "teacher_batch_size"):
            _positive_int(name, getattr(self, name))
        if self.augment < 0:
            raise ValueError(f"augment must be 0 (none) or a number of variants per text, got {self.augment}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        if any(i < 0 for i in self.keep_layers) or list(self.keep_layers) != sorted(set(self.keep_layers)):
            raise ValueError(
                f"keep_layers must be distinct layer numbers from 0, ascending; got {self.keep_layers}"
            )
        if not isinstance(self.keep_ffn, int) or self.keep_ffn < 0:
            raise ValueError(f"keep_ffn must be 0 (keep all) or a positive integer, got {self.keep_ffn!r}")
        if self.as_architecture and self.as_architecture not in REHOUSABLE:
            raise ValueError(
                f"as_architecture must be {', '.join(REHOUSABLE[:-1])} or {REHOUSABLE[-1]} (what a BERT "
                f"model's weights fit), got {self.as_architecture!r}"
            )
        if self.tokenizer not in ("own", "teacher"):
            raise ValueError(f"tokenizer must be 'own' or 'teacher', got {self.tokenizer!r}")
        if self.vocab_size < 200:
            raise ValueError(
                f"vocab_size {self.vocab_size} is too small to hold the byte alphabet; use >= 200"
            )


def _positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _positive_int(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
