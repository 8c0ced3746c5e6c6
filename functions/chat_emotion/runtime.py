"""The one inference runtime: ONNX Runtime + `tokenizers` + numpy, nothing else.

The Cloud Function serves with it and the training package evaluates and benchmarks with it, so
what is measured is what is served. torch and transformers are never imported here.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from chat_emotion.artifact import (
    MODEL_FILE,
    TOKENIZER_FILE,
    ArtifactCorruptError,
    Manifest,
    verify_artifact,
)
from chat_emotion.labels import LabelledModel, Prediction

__all__ = ["Classifier", "ModelCache", "Prediction", "session_options"]

# Tokens tried, in order, when tokenizer.json carries no padding settings of its own.
_PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>")
_ORT_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


def session_options(threads: int = 1) -> ort.SessionOptions:
    """Session settings for a small CPU instance that must start fast.

    - ORT_ENABLE_ALL: fuses attention/LayerNorm/GELU when the exporter left them unfused; the
      cost is paid once per load and is small for models this size.
    - intra-op threads = `threads`, inter-op 1, sequential: per-message graphs are tiny, and
      Cloud Functions runs several requests at once per instance (concurrency), so one thread per
      request beats every request fighting over all cores.
    - no spinning: spinning threads burn the CPU budget while idle and slow the other requests.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initializers are noise in the function's log
    return options


class Classifier(LabelledModel):
    """A loaded model version: tokenizer + ONNX session + manifest. Thread-safe for `predict`."""

    def __init__(self, manifest: Manifest, tokenizer: Tokenizer, session: ort.InferenceSession,
                 directory: Path, load_seconds: float = 0.0) -> None:
        self.manifest = manifest
        self.directory = directory
        self.load_seconds = load_seconds
        self._estimated_bytes = estimate_model_bytes(directory)  # now: the files may not stay (store.release)
        self._tokenizer = tokenizer
        self._session = session
        inputs = {i.name: i for i in session.get_inputs()}
        missing = [name for name in inputs if name not in manifest.input_names]
        if missing or "input_ids" not in inputs:
            raise ArtifactCorruptError(
                f"{manifest.ref}: model.onnx takes inputs {sorted(inputs)} but the manifest lists "
                f"{manifest.input_names}; export and manifest disagree")
        self._input_dtypes = {name: _ORT_INT_TYPES.get(i.type, np.int64) for name, i in inputs.items()}
        outputs = session.get_outputs()
        self._output_name = outputs[0].name
        width = outputs[0].shape[-1] if outputs[0].shape else None
        if isinstance(width, int) and width != len(manifest.labels):
            raise ArtifactCorruptError(
                f"{manifest.ref}: model.onnx gives {width} logits but the manifest names "
                f"{len(manifest.labels)} labels")

    @classmethod
    def load(cls, directory: str | Path, *, threads: int = 1, verify: bool = True) -> Classifier:
        """Load `<directory>/{manifest.json,tokenizer.json,model.onnx}`.

        With `verify` (the default) every file's sha256 is checked against the manifest first
        (ArtifactMissingError / ArtifactCorruptError). A model that verifies but cannot be
        parsed also raises ArtifactCorruptError.
        """
        started = time.perf_counter()
        directory = Path(directory)
        manifest = verify_artifact(directory) if verify else Manifest.load(directory)
        try:
            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        except Exception as err:  # tokenizers raises a bare Exception on bad JSON
            raise ArtifactCorruptError(f"{manifest.ref}: tokenizer.json does not load: {err}") from err
        _configure_tokenizer(tokenizer, manifest.max_length)
        try:
            session = ort.InferenceSession(str(directory / MODEL_FILE), sess_options=session_options(threads),
                                           providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ArtifactCorruptError(f"{manifest.ref}: model.onnx does not load: {err}") from err
        return cls(manifest, tokenizer, session, directory, time.perf_counter() - started)

    def estimated_bytes(self) -> int:
        return self._estimated_bytes

    def feed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The session's inputs for one batch: tokenized, padded to its longest text, typed for the graph."""
        encodings = self._tokenizer.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.asarray(columns[name], dtype=dtype) for name, dtype in self._input_dtypes.items()}

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits [len(texts), num_labels] for one batch, padded to its longest text."""
        (logits,) = self._session.run([self._output_name], self.feed(texts))
        return np.asarray(logits, dtype=np.float32)


def _configure_tokenizer(tokenizer: Tokenizer, max_length: int) -> None:
    """Truncate to the manifest's max_length and pad to the longest text of each batch."""
    tokenizer.enable_truncation(max_length=max_length)
    padding = tokenizer.padding
    if padding is not None:
        pad_id, pad_token = padding["pad_id"], padding["pad_token"]
    else:
        pad_token = next((t for t in _PAD_TOKENS if tokenizer.token_to_id(t) is not None), None)
        pad_id = tokenizer.token_to_id(pad_token) if pad_token else 0
        pad_token = pad_token or "[PAD]"
    # length=None pads to the batch's longest, never to max_length: a 5-word message costs 5 words.
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token, length=None)


def estimate_model_bytes(directory: str | Path) -> int:
    """Resident memory a loaded model costs, estimated from its files.

    ONNX Runtime holds the weights plus pre-packed copies for its int8 kernels, the tokenizer's
    vocabulary becomes Rust hash maps a few times its JSON size, and each session keeps arenas.
    Measured here: int8 all-MiniLM-L6-v2 (22.9 MB model.onnx, 0.7 MB tokenizer.json) adds 54 MB
    of RSS once loaded and run; this rule gives 56 MB.
    """
    directory = Path(directory)
    model = (directory / MODEL_FILE).stat().st_size if (directory / MODEL_FILE).exists() else 0
    tok = (directory / TOKENIZER_FILE).stat().st_size if (directory / TOKENIZER_FILE).exists() else 0
    return int(model * 2 + tok * 3 + 8 * 2**20)


class ModelCache:
    """Keeps several Classifiers warm within a memory budget, evicting the least recently used.

    Concurrent requests for a model that is not loaded yet wait for one load instead of each
    loading it (Cloud Functions runs `concurrency` requests per instance on threads). A model
    larger than the whole budget is still served: everything else is evicted first.
    """

    def __init__(self, budget_bytes: int = 512 * 2**20) -> None:
        if budget_bytes <= 0:
            raise ValueError("ModelCache budget_bytes must be positive")
        self.budget_bytes = budget_bytes
        self._models: OrderedDict[str, tuple[Classifier, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._models

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def keys(self) -> list[str]:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._models)

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._models.values())

    def get(self, key: str, load: Callable[[], Classifier]) -> Classifier:
        """The cached classifier for `key`, calling `load()` (once, even under concurrency) if absent."""
        with self._lock:
            hit = self._models.get(key)
            if hit is not None:
                self._models.move_to_end(key)
                return hit[0]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._models.get(key)
                if hit is not None:  # another thread loaded it while we waited
                    self._models.move_to_end(key)
                    return hit[0]
            classifier = load()  # outside the cache lock: other models stay servable meanwhile
            size = classifier.estimated_bytes()
            with self._lock:
                self._models[key] = (classifier, size)
                self._evict(keep=key)
                self._loading.pop(key, None)
            return classifier

    def _evict(self, keep: str) -> None:
        total = sum(size for _, size in self._models.values())
        for key in list(self._models):
            if total <= self.budget_bytes:
                break
            if key == keep:
                continue
            total -= self._models.pop(key)[1]

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


def default_threads() -> int:
    """Intra-op threads per request: CHAT_EMOTION_THREADS, else 1 (see session_options)."""
    try:
        return max(1, int(os.environ.get("CHAT_EMOTION_THREADS", "1")))
    except ValueError:
        return 1
