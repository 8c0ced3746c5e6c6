"""The model artifact contract: one model version is a folder holding three files.

    <dir>/model.onnx       logits [batch, num_labels]; inputs named in the manifest
    <dir>/tokenizer.json   a `tokenizers` tokenizer
    <dir>/manifest.json    what the model is, how it was made, what it scored, sha256 of each file

Standard library only: the training package writes artifacts with this module and the Cloud
Function reads them with it, so neither side needs the other's dependencies.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
# The files whose sha256 the manifest records (the manifest cannot hash itself).
ARTIFACT_FILES = (MODEL_FILE, TOKENIZER_FILE)
FORMAT_VERSION = 1

ProblemType = Literal["single_label_classification", "multi_label_classification"]
Quantization = Literal["int8", "fp32"]
PROBLEM_TYPES: tuple[str, ...] = ("single_label_classification", "multi_label_classification")
QUANTIZATIONS: tuple[str, ...] = ("int8", "fp32")
KNOWN_INPUT_NAMES: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")


class ArtifactError(Exception):
    """A model artifact that cannot be used; `code` is the ERROR code the function records."""

    code = "MODEL_ARTIFACT_INVALID"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ArtifactMissingError(ArtifactError):
    """A file of the artifact (or the whole folder) is not there."""

    code = "MODEL_ARTIFACT_MISSING"


class ArtifactCorruptError(ArtifactError):
    """A file's sha256 differs from the manifest's, or the manifest does not parse."""

    code = "MODEL_ARTIFACT_CORRUPT"


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so a large model never sits in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """manifest.json: the description every consumer of a model version relies on."""

    name: str
    """Catalogue name, e.g. `minilm`, `bert`; lower case letters, digits, `-` and `_`."""
    version: str
    """Version inside the name, e.g. `2026-11-25.1` or `v3`; same character set plus `.`."""
    architecture: str
    """Transformers model type, e.g. `bert`, `distilbert`, `roberta`, `electra`, `mobilebert`."""
    base_checkpoint: str
    """The checkpoint it was fine-tuned or distilled from (hub id or path), or `scratch`."""
    labels: list[str]
    """Label names in id order: logits[:, i] scores labels[i]."""
    problem_type: ProblemType
    """`single_label_classification` (softmax) or `multi_label_classification` (sigmoid + threshold)."""
    threshold: float | None
    """Multi-label only: a label is on when its sigmoid is >= threshold. None for single-label."""
    max_length: int
    """Tokens per text after truncation (including special tokens)."""
    quantization: Quantization
    """`int8` (dynamic quantization, the default) or `fp32`."""
    input_names: list[str]
    """ONNX graph inputs in order, from input_ids, attention_mask, token_type_ids."""
    files: dict[str, str]
    """File name -> sha256 hex, for model.onnx and tokenizer.json."""
    evaluation: dict[str, Any] = field(default_factory=dict)
    """What it scored: accuracy, macro_f1, per_label_f1, latency_ms_p50, dataset, split, ..."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """How it was made: command, created_at, git commit, hyper-parameters, ..."""
    format_version: int = FORMAT_VERSION
    """Version of this manifest format; readers refuse versions they do not know."""
    thresholds: dict[str, float] | None = None
    """Multi-label only, optional: a threshold per label (every label, each in (0, 1)), tuned on
    validation data; it replaces `threshold`, which stays for readers that take one number."""

    def __post_init__(self) -> None:
        _check_identifier("name", self.name, allow_dot=False)
        _check_identifier("version", self.version, allow_dot=True)
        if not isinstance(self.architecture, str) or not self.architecture:
            raise ValueError("manifest.architecture must be a non-empty string such as 'bert'")
        if not isinstance(self.base_checkpoint, str) or not self.base_checkpoint:
            raise ValueError("manifest.base_checkpoint must be a hub id, a path or 'scratch'")
        labels = self.labels
        if not isinstance(labels, list) or len(labels) < 2 or not all(_nonempty(x) for x in labels):
            raise ValueError(f"manifest.labels must list two or more non-empty label names, got {labels!r}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"manifest.labels has duplicates: {labels!r}")
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"manifest.problem_type must be in {PROBLEM_TYPES}, got {self.problem_type!r}")
        if self.problem_type == "multi_label_classification":
            if not _is_number(self.threshold) or not 0.0 < self.threshold < 1.0:  # type: ignore[operator]
                raise ValueError(
                    "manifest.threshold must be a number in (0, 1) for a multi-label model, "
                    f"got {self.threshold!r}")
        elif self.threshold is not None:
            raise ValueError("manifest.threshold must be null for a single-label model (softmax picks one)")
        if self.thresholds is not None:
            if self.problem_type != "multi_label_classification":
                raise ValueError("manifest.thresholds is for multi-label models only; remove it")
            if not isinstance(self.thresholds, dict) or set(self.thresholds) != set(labels):
                given = sorted(self.thresholds) if isinstance(self.thresholds, dict) else self.thresholds
                raise ValueError(
                    f"manifest.thresholds must give a threshold for exactly the labels {labels}; got "
                    f"{given!r}: re-run `emotion-train thresholds` on the checkpoint and export again")
            bad = {k: v for k, v in self.thresholds.items() if not _is_number(v) or not 0.0 < v < 1.0}
            if bad:
                raise ValueError(f"manifest.thresholds must each be a number in (0, 1); got {bad!r}")
        if not _is_int(self.max_length) or not 2 <= self.max_length <= 8192:
            raise ValueError(f"manifest.max_length must be an integer in [2, 8192], got {self.max_length!r}")
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"manifest.quantization must be in {QUANTIZATIONS}, got {self.quantization!r}")
        names = self.input_names
        if (not isinstance(names, list) or "input_ids" not in names
                or not set(names) <= set(KNOWN_INPUT_NAMES) or len(set(names)) != len(names)):
            raise ValueError(
                f"manifest.input_names must include 'input_ids' and only names from {KNOWN_INPUT_NAMES}, "
                f"got {names!r}")
        if not isinstance(self.files, dict) or set(self.files) != set(ARTIFACT_FILES):
            raise ValueError(f"manifest.files must map exactly {ARTIFACT_FILES} to sha256: {self.files!r}")
        for file_name, digest in self.files.items():
            if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= set("0123456789abcdef"):
                raise ValueError(f"manifest.files[{file_name!r}] must be a lower-case sha256 hex digest")
        if not isinstance(self.evaluation, dict) or not isinstance(self.provenance, dict):
            raise ValueError("manifest.evaluation and manifest.provenance must be JSON objects")
        if self.format_version != FORMAT_VERSION:
            raise ValueError(
                f"manifest.format_version {self.format_version!r} is not supported (this reader knows "
                f"{FORMAT_VERSION}); re-export the model with the current training package")

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    def label_thresholds(self) -> list[float] | None:
        """Multi-label: each label's threshold in label order (see `label_thresholds`); else None."""
        if not self.is_multi_label:
            return None
        return label_thresholds(self.labels, self.thresholds, self.threshold)

    @property
    def ref(self) -> str:
        """`name@version`, the form a message's `model` field accepts."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if not isinstance(data, dict):
            raise ValueError("manifest must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"manifest has unknown keys {unknown}; known keys: {sorted(known)}")
        missing = sorted(f.name for f in fields(cls) if f.name not in data and f.name in _REQUIRED)
        if missing:
            raise ValueError(f"manifest is missing keys {missing}")
        return cls(**data)

    @classmethod
    def load(cls, directory: str | Path) -> Manifest:
        """Read `<directory>/manifest.json`; ArtifactMissingError / ArtifactCorruptError when unusable."""
        path = Path(directory) / MANIFEST_FILE
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError as err:
            raise ArtifactMissingError(f"no {MANIFEST_FILE} in {directory}") from err
        try:
            return cls.from_dict(json.loads(raw))
        except (ValueError, TypeError) as err:  # JSONDecodeError is a ValueError
            raise ArtifactCorruptError(f"{path} is not a valid manifest: {err}") from err

    def write(self, directory: str | Path) -> Path:
        """Write `<directory>/manifest.json` (sorted keys, so equal manifests are equal files)."""
        path = Path(directory) / MANIFEST_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path


_REQUIRED = frozenset(
    f.name for f in fields(Manifest) if f.default is MISSING and f.default_factory is MISSING)


def label_thresholds(labels: list[str], thresholds: dict[str, float] | None,
                     threshold: float | None) -> list[float]:
    """Each label's threshold in label order: its own when tuned, else the scalar (0.5 when none)."""
    scalar = float(threshold if threshold is not None else 0.5)
    return [float((thresholds or {}).get(label, scalar)) for label in labels]


def _nonempty(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_identifier(what: str, value: object, *, allow_dot: bool) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-_" + ("." if allow_dot else ""))
    if (not isinstance(value, str) or not 1 <= len(value) <= 64 or value[0] in "-_."
            or any(c not in allowed for c in value)):
        extra = ", '.'" if allow_dot else ""
        raise ValueError(
            f"manifest.{what} must be 1-64 characters of a-z, 0-9, '-', '_'{extra}, not starting with "
            f"a symbol; got {value!r}")


def build_manifest(directory: str | Path, **fields_: Any) -> Manifest:
    """Hash model.onnx and tokenizer.json in `directory`, write manifest.json, and return it.

    `fields_` are the Manifest fields other than `files` (which this computes).
    """
    directory = Path(directory)
    if "files" in fields_:
        raise ValueError("build_manifest computes `files` itself; do not pass it")
    files = {}
    for file_name in ARTIFACT_FILES:
        path = directory / file_name
        if not path.is_file():
            raise ArtifactMissingError(f"cannot build a manifest: {path} does not exist")
        files[file_name] = sha256_file(path)
    manifest = Manifest(files=files, **fields_)
    manifest.write(directory)
    return manifest


def verify_artifact(directory: str | Path, manifest: Manifest | None = None) -> Manifest:
    """Check every file of the artifact against the manifest's sha256; return the manifest.

    Raises ArtifactMissingError (a file is absent) or ArtifactCorruptError (a digest differs).
    """
    directory = Path(directory)
    if manifest is None:
        manifest = Manifest.load(directory)
    for file_name, expected in manifest.files.items():
        path = directory / file_name
        if not path.is_file():
            raise ArtifactMissingError(f"{manifest.ref}: {path} does not exist")
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactCorruptError(
                f"{manifest.ref}: sha256 of {file_name} is {actual}, manifest says {expected}; "
                "the file is damaged or was replaced: publish the artifact again")
    return manifest
