"""A fine-tuned checkpoint: a Hugging Face model folder plus `training.json`, what export needs to know.

<dir>/config.json, model.safetensors     the model (id2label holds the label names)
<dir>/tokenizer.json, tokenizer_config.json
<dir>/training.json                      base checkpoint, problem type, threshold, max length,
                                         the command, per-epoch times and evaluation
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INFO_FILE = "training.json"


@dataclass
class CheckpointInfo:
    """What a checkpoint folder records beside the model weights."""

    base_checkpoint: str
    architecture: str
    labels: list[str]
    problem_type: str
    threshold: float | None
    max_length: int
    dataset: str = ""
    command: str = ""
    created_at: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    """Per-epoch evaluation (accuracy, macro-F1, loss)."""
    evaluation: dict[str, Any] = field(default_factory=dict)
    """The final evaluation on the validation split; `unseen` is true when a selection slice made
    every choice instead."""
    selection: dict[str, Any] = field(default_factory=dict)
    """The final evaluation on the selection slice held out of train, and the rule that drew it."""
    distillation: dict[str, Any] | None = None
    thresholds: dict[str, float] | None = None
    """Multi-label: a threshold per label tuned on validation data (`emotion-train thresholds`);
    export copies it into the manifest."""

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    def label_thresholds(self) -> list[float] | None:
        """Multi-label: each label's threshold in label order (tuned, else the scalar); else None."""
        if not self.is_multi_label:
            return None
        from chat_emotion.artifact import label_thresholds

        return label_thresholds(self.labels, self.thresholds, self.threshold)

    def write(self, directory: str | Path) -> Path:
        path = Path(directory) / INFO_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, directory: str | Path) -> CheckpointInfo:
        path = Path(directory) / INFO_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: {directory} is not a checkpoint written by "
                "`emotion-train train` or `distill`"
            )
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def load_checkpoint(directory: str | Path, threads: int | None = None):
    """(model in eval mode, fast tokenizer, CheckpointInfo) from a checkpoint folder, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    info = CheckpointInfo.read(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory, attn_implementation="eager")
    model.eval()
    return model, tokenizer, info


def torch_logits(
    model, tokenizer, texts: list[str], max_length: int, batch_size: int = 64, progress: bool = False
):
    """Logits [n, num_labels] as float32 numpy, batched, texts sorted by length to pad little."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    starts = range(0, len(texts), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc="torch inference", disable=not progress, unit="batch"):
            chunk = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in chunk],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            out[chunk] = model(**enc).logits.float().numpy()
    return out
