"""The second engine: the same artifact and the same answers as chat_emotion.runtime, with numpy
and the standard library alone (what python-for-android and 32-bit Raspberry Pi OS can install).

- model.onnx is read by chat_emotion.onnx_reader (protobuf wire format, no `onnx` package) and run
  by chat_emotion.numpy_graph (ONNX Runtime's int8 arithmetic, reproduced);
- tokenizer.json is applied by chat_emotion.text_tokenizer (the ids `tokenizers` gives);
- the manifest, its sha256 check and the labels' rule are the function's own (artifact, labels).

`NumpyClassifier` has the interface of `runtime.Classifier` that the app uses (`load`, `predict`,
`logits`, `manifest`, `labels`). One text per call is its fast path; a batch is padded to its
longest text with the attention mask set, as ONNX Runtime is fed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chat_emotion.artifact import MODEL_FILE, TOKENIZER_FILE, ArtifactCorruptError, Manifest, verify_artifact
from chat_emotion.labels import LabelledModel
from chat_emotion.numpy_graph import NumpyGraph, UnsupportedGraphError
from chat_emotion.onnx_reader import OnnxFormatError, read_model
from chat_emotion.text_tokenizer import PyTokenizer, TokenizerConfigError

ENGINE = "numpy"


class NumpyClassifier(LabelledModel):
    """A loaded model version run with numpy. Thread-safe for `predict` (no shared state per call)."""

    engine = ENGINE

    def __init__(self, manifest: Manifest, tokenizer: PyTokenizer, graph: NumpyGraph, directory: Path,
                 load_seconds: float = 0.0) -> None:
        self.manifest = manifest
        self.directory = directory
        self.load_seconds = load_seconds
        self._tokenizer = tokenizer
        self._graph = graph
        missing = [name for name in graph.inputs if name not in manifest.input_names]
        if missing or "input_ids" not in graph.inputs:
            raise ArtifactCorruptError(
                f"{manifest.ref}: model.onnx takes inputs {graph.inputs} but the manifest lists "
                f"{manifest.input_names}; export and manifest disagree")

    @classmethod
    def load(cls, directory: str | Path, *, threads: int = 1, verify: bool = True) -> NumpyClassifier:
        """Load `<directory>/{manifest.json,tokenizer.json,model.onnx}`, sha256-checked first with
        `verify`. `threads` is accepted for the runtime's interface: numpy's matrix products use
        whatever its BLAS is told (OPENBLAS_NUM_THREADS; the app sets 1)."""
        started = time.perf_counter()
        directory = Path(directory)
        manifest = verify_artifact(directory) if verify else Manifest.load(directory)
        try:
            tokenizer = PyTokenizer.from_file(directory / TOKENIZER_FILE, manifest.max_length)
        except (TokenizerConfigError, KeyError) as err:
            raise ArtifactCorruptError(f"{manifest.ref}: tokenizer.json cannot be used: {err}") from err
        try:
            graph = NumpyGraph(read_model((directory / MODEL_FILE).read_bytes()))
        except (OnnxFormatError, UnsupportedGraphError) as err:
            raise ArtifactCorruptError(f"{manifest.ref}: model.onnx cannot be run with numpy: {err}") from err
        return cls(manifest, tokenizer, graph, directory, time.perf_counter() - started)

    def feed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for one batch, padded to its longest text (int64, as exported)."""
        rows = [self._tokenizer.encode(text) for text in texts]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self._tokenizer.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        columns = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return {name: columns[name] for name in self._graph.inputs}

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits [len(texts), num_labels] for one batch."""
        return np.asarray(self._graph(self.feed(texts))[0], dtype=np.float32)
