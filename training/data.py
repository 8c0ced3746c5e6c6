"""Datasets: the 6-label `emotion` set, the 28-label multi-label GoEmotions, and plain CSV / JSONL.

Every loader returns a `TextDataset`. Files are read strictly: a line that does not parse stops the
load with the file, the line number and the reason (`DataError`), so a bad or mixed file never trains
a model quietly.

Sources (`load_dataset(source, split)`):
  * a file: `*.txt` (`text;label` lines), `*.tsv` (GoEmotions: text, comma-separated ids, id; label
    names from `labels.txt` beside it), `*.csv` / `*.jsonl` (a text and a label column);
  * a folder holding one of those layouts (`train.txt` / `val.txt`, or `train.tsv` / `dev.tsv` /
    `labels.txt`): the split picks the file;
  * a hub dataset name: `emotion`, `goemotions` or any `owner/name` (needs the `datasets` library).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

SINGLE = "single_label_classification"
MULTI = "multi_label_classification"

EMOTION_LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")
"""dair-ai/emotion's label ids 0..5."""
GOEMOTIONS_THRESHOLD = 0.30
"""Sigmoid threshold for GoEmotions (the Cortiz study's value)."""

HUB_NAMES = {
    "emotion": "dair-ai/emotion",
    "goemotions": "google-research-datasets/go_emotions",
    "go_emotions": "google-research-datasets/go_emotions",
}
SPLIT_FILES = {
    "train": ("train.txt", "train.tsv", "train.csv", "train.jsonl"),
    "validation": (
        "val.txt",
        "validation.txt",
        "dev.tsv",
        "validation.csv",
        "val.csv",
        "validation.jsonl",
        "val.jsonl",
    ),
    "test": ("test.txt", "test.tsv", "test.csv", "test.jsonl"),
}


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the line and the reason."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.reason = str(path), line, reason


@dataclass(frozen=True)
class TextDataset:
    """Texts with their labels. Single-label: one id per text; multi-label: a list of ids per text."""

    texts: list[str]
    labels: list[int] | list[list[int]]
    label_names: tuple[str, ...]
    problem_type: str
    source: str

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{self.source}: {len(self.texts)} texts but {len(self.labels)} labels")
        if self.problem_type not in (SINGLE, MULTI):
            raise ValueError(f"problem_type must be {SINGLE!r} or {MULTI!r}, got {self.problem_type!r}")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == MULTI

    def head(self, n: int | None, seed: int = 0) -> TextDataset:
        """A seeded random sample of `n` rows (all rows when n is None or large enough)."""
        if n is None or n >= len(self):
            return self
        return self._rows(np.random.default_rng(seed).permutation(len(self))[:n].tolist(), self.source)

    def split_off(self, fraction: float) -> tuple[TextDataset, TextDataset]:
        """(the rest, a selection slice of about `fraction` of the rows), chosen by a hash of each
        text: the same rows on every run, whatever their order, and a repeated text never lands on
        both sides. The slice makes the choices (epochs, thresholds, candidates), so the validation
        split stays unseen and is only reported."""
        cut = int(fraction * 2**32)
        inside = [_hash32(t) < cut for t in self.texts]
        rest = [i for i, s in enumerate(inside) if not s]
        held = [i for i, s in enumerate(inside) if s]
        slice_name = f"{self.source} (selection slice {fraction:g})"
        return self._rows(rest, self.source), self._rows(held, slice_name)

    def _rows(self, rows: list[int], source: str) -> TextDataset:
        return replace(  # type: ignore[misc]
            self, texts=[self.texts[i] for i in rows], labels=[self.labels[i] for i in rows], source=source
        )

    def targets(self) -> np.ndarray:
        """Label ids [n] (single-label) or a 0/1 matrix [n, num_labels] (multi-label)."""
        if not self.is_multi_label:
            return np.asarray(self.labels, dtype=np.int64)
        out = np.zeros((len(self), len(self.label_names)), dtype=np.float32)
        for row, ids in enumerate(self.labels):
            out[row, ids] = 1.0
        return out


def _hash32(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")


def load_dataset(
    source: str | Path,
    split: str = "train",
    *,
    label_names: Sequence[str] | None = None,
    text_column: str = "text",
    label_column: str = "label",
) -> TextDataset:
    """Load `split` of `source` (a file, a folder, or a hub name); see the module docstring.

    `label_names` fixes the id order (pass the training set's names when loading its evaluation set);
    a label outside it is an error.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
    path = Path(source).expanduser()
    if path.is_dir():
        path = _split_file(path, split)
    if path.is_file():
        names = tuple(label_names) if label_names else None
        suffix = path.suffix.lower()
        if suffix == ".txt":
            return _read_semicolon(path, names)
        if suffix == ".tsv":
            return _read_goemotions(path, names)
        if suffix == ".csv":
            return _read_csv(path, names, text_column, label_column)
        if suffix in (".jsonl", ".json"):
            return _read_jsonl(path, names, text_column, label_column)
        raise DataError(
            path, None, "unknown file type: use .txt (text;label), .tsv (GoEmotions), .csv or .jsonl"
        )
    if str(source) in HUB_NAMES or (
        "/" in str(source) and not Path(source).is_absolute() and not str(source).startswith(".")
    ):
        return _load_hub(str(source), split, label_names, text_column, label_column)
    raise DataError(source, None, "no such file or folder (and not a hub dataset name such as 'emotion')")


def _split_file(folder: Path, split: str) -> Path:
    for name in SPLIT_FILES[split]:
        if (folder / name).is_file():
            return folder / name
    raise DataError(folder, None, f"no {split} file here; expected one of {', '.join(SPLIT_FILES[split])}")


def _lines(path: Path):
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line
    except UnicodeDecodeError as err:
        raise DataError(path, None, f"not UTF-8 text ({err.reason} at byte {err.start})") from err


class _Labeller:
    """Maps label names to ids: a fixed list when given, else names in order of first appearance
    (emotion's canonical order when every name belongs to it)."""

    def __init__(self, path: Path, names: tuple[str, ...] | None) -> None:
        self.path, self.fixed = path, names
        self.index: dict[str, int] = {n: i for i, n in enumerate(names)} if names else {}

    def __call__(self, label: str, line: int) -> int:
        label = label.strip()
        if not label:
            raise DataError(self.path, line, "empty label")
        if label not in self.index:
            if self.fixed:
                raise DataError(self.path, line, f"label {label!r} is not one of {list(self.fixed)}")
            self.index[label] = len(self.index)
        return self.index[label]

    def finish(self, labels: list[int]) -> tuple[list[int], tuple[str, ...]]:
        if self.fixed:
            return labels, self.fixed
        seen = list(self.index)
        if len(seen) < 2:
            raise DataError(self.path, None, f"needs at least two different labels, found {seen}")
        order = [n for n in EMOTION_LABELS if n in seen] if set(seen) <= set(EMOTION_LABELS) else sorted(seen)
        remap = {self.index[name]: order.index(name) for name in seen}
        return [remap[i] for i in labels], tuple(order)


def _finish(path: Path, texts: list[str], labels: list[int], labeller: _Labeller) -> TextDataset:
    if not texts:
        raise DataError(path, None, "no examples (the file is empty)")
    labels, names = labeller.finish(labels)
    return TextDataset(texts, labels, names, SINGLE, str(path))


def _read_semicolon(path: Path, names: tuple[str, ...] | None) -> TextDataset:
    texts: list[str] = []
    labels: list[int] = []
    labeller = _Labeller(path, names)
    for number, line in _lines(path):
        text, sep, label = line.rpartition(";")
        if not sep:
            raise DataError(path, number, "expected 'text;label' but the line has no ';'")
        if not text.strip():
            raise DataError(path, number, "empty text before ';'")
        if "\t" in line:
            raise DataError(path, number, "a tab in a 'text;label' file: is this a GoEmotions .tsv?")
        texts.append(text)
        labels.append(labeller(label, number))
    return _finish(path, texts, labels, labeller)


def _read_csv(path: Path, names: tuple[str, ...] | None, text_column: str, label_column: str) -> TextDataset:
    texts: list[str] = []
    labels: list[int] = []
    labeller = _Labeller(path, names)
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {text_column, label_column} - set(reader.fieldnames or [])
        if missing:
            raise DataError(
                path,
                1,
                f"header lacks column(s) {sorted(missing)}; it has {reader.fieldnames}. "
                "Use --text-column / --label-column",
            )
        try:
            for row in reader:
                number = reader.line_num
                if None in row or any(v is None for v in row.values()):
                    raise DataError(path, number, "wrong number of fields for the header")
                text = row[text_column]
                if not text.strip():
                    raise DataError(path, number, f"empty {text_column!r}")
                texts.append(text)
                labels.append(labeller(row[label_column], number))
        except csv.Error as err:
            raise DataError(path, reader.line_num, f"not valid CSV: {err}") from err
    return _finish(path, texts, labels, labeller)


def _read_jsonl(
    path: Path, names: tuple[str, ...] | None, text_column: str, label_column: str
) -> TextDataset:
    texts: list[str] = []
    raw: list[tuple[int, Any]] = []
    for number, line in _lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(path, number, f"not a JSON object: {err.msg}") from err
        if not isinstance(row, dict) or text_column not in row or label_column not in row:
            raise DataError(path, number, f"expected an object with {text_column!r} and {label_column!r}")
        text = row[text_column]
        if not isinstance(text, str) or not text.strip():
            raise DataError(path, number, f"{text_column!r} must be a non-empty string")
        texts.append(text)
        raw.append((number, row[label_column]))
    if not texts:
        raise DataError(path, None, "no examples (the file is empty)")
    multi = isinstance(raw[0][1], list)
    labeller = _Labeller(path, names)
    if not multi:
        labels = []
        for number, value in raw:
            if isinstance(value, list) or not isinstance(value, (str, int)) or isinstance(value, bool):
                raise DataError(path, number, "label must be a string or integer like the first row's")
            labels.append(labeller(_label_name(value, names, path, number), number))
        return _finish(path, texts, labels, labeller)
    if not names:
        raise DataError(path, None, "multi-label rows (label lists) need the label names: pass --labels")
    multi_labels: list[list[int]] = []
    for number, value in raw:
        if not isinstance(value, list):
            raise DataError(
                path, number, "label must be a list like the first row's (mixed single/multi-label)"
            )
        multi_labels.append([labeller(_label_name(v, names, path, number), number) for v in value])
    return TextDataset(texts, multi_labels, names, MULTI, str(path))


def _label_name(value: str | int, names: tuple[str, ...] | None, path: Path, line: int) -> str:
    """Integer labels are ids into `names` when names are known; otherwise their text is the name."""
    if isinstance(value, int) and names:
        if not 0 <= value < len(names):
            raise DataError(path, line, f"label id {value} is outside 0..{len(names) - 1}")
        return names[value]
    return str(value)


def _read_goemotions(path: Path, names: tuple[str, ...] | None) -> TextDataset:
    if names is None:
        labels_file = path.parent / "labels.txt"
        if not labels_file.is_file():
            raise DataError(
                path, None, f"GoEmotions TSV needs {labels_file} (label names in id order) or --labels"
            )
        names = tuple(n.strip() for n in labels_file.read_text(encoding="utf-8").splitlines() if n.strip())
    texts: list[str] = []
    labels: list[list[int]] = []
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) not in (2, 3):
            raise DataError(
                path, number, f"expected 'text<TAB>label ids<TAB>id', found {len(parts)} field(s)"
            )
        text, ids = parts[0], parts[1]
        if not text.strip():
            raise DataError(path, number, "empty text")
        try:
            row = sorted({int(i) for i in ids.split(",")})
        except ValueError as err:
            raise DataError(path, number, f"label ids must be comma-separated integers, got {ids!r}") from err
        if not row or row[0] < 0 or row[-1] >= len(names):
            raise DataError(path, number, f"label id outside 0..{len(names) - 1}: {ids!r}")
        texts.append(text)
        labels.append(row)
    if not texts:
        raise DataError(path, None, "no examples (the file is empty)")
    return TextDataset(texts, labels, names, MULTI, str(path))


def _load_hub(
    name: str, split: str, label_names: Sequence[str] | None, text_column: str, label_column: str
) -> TextDataset:
    try:
        import datasets  # the training extra's; imported only for hub names
    except ImportError as err:
        raise DataError(
            name,
            None,
            "loading a hub dataset needs the `datasets` library of the training extra (`make setup`) "
            "and network; offline, pass a local folder instead, e.g. ../shared/data/emotion",
        ) from err
    hub_id = HUB_NAMES.get(name, name)
    config = {"dair-ai/emotion": "split", "google-research-datasets/go_emotions": "simplified"}.get(hub_id)
    try:
        table = datasets.load_dataset(hub_id, config, split=split)
    except Exception as err:  # network, unknown name, unknown split: all end the same way for the user
        raise DataError(
            hub_id, None, f"could not load from the hub ({err}); offline, pass a local folder"
        ) from err
    feature = table.features[label_column if label_column in table.features else "labels"]
    is_multi = hasattr(feature, "feature")
    names = tuple(label_names or (feature.feature.names if is_multi else feature.names))
    texts = list(table[text_column])
    column = table[label_column if label_column in table.features else "labels"]
    problem = MULTI if is_multi else SINGLE
    return TextDataset(texts, [list(v) for v in column] if is_multi else list(column), names, problem, hub_id)
