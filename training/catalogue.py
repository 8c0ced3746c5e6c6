"""The model catalogue (`models/catalogue.json`): catalogue names → base checkpoints, and the seed's
hyper-parameters that are the training defaults.

A model reference on the command line is a catalogue name (`bert`, `minilm`, ...), a local folder, or a
Hugging Face hub id. `resolve_checkpoint` turns any of them into something `from_pretrained` accepts,
preferring weights installed locally (the `minilm` weights ship in a PyPI package) over the hub.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from training.checkpoint import INFO_FILE, CheckpointInfo

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "models" / "catalogue.json"


@dataclass(frozen=True)
class CatalogueEntry:
    """One named base model."""

    name: str
    checkpoint: str
    """Hugging Face hub id of the base checkpoint."""
    architecture: str
    """Transformers model type (`bert`, `roberta`, ...)."""
    package: str | None = None
    """A Python package that ships the weights, for offline use."""
    package_dir: str = "model"
    """Folder inside `package` that holds config.json and the weights."""

    def local_dir(self) -> Path | None:
        """The installed package's weight folder, or None when the package is not installed."""
        if self.package is None:
            return None
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / self.package_dir
        return folder if (folder / "config.json").is_file() else None


@dataclass(frozen=True)
class Seed:
    """The seed study's hyper-parameters."""

    learning_rate: float
    batch_size: int
    epochs: int


@cache
def _load() -> tuple[dict[str, CatalogueEntry], Seed]:
    data = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    entries = {name: CatalogueEntry(name=name, **spec) for name, spec in data["models"].items()}
    return entries, Seed(**data["seed"])


def catalogue() -> dict[str, CatalogueEntry]:
    """Catalogue name → entry."""
    return dict(_load()[0])


def seed() -> Seed:
    return _load()[1]


def resolve_checkpoint(ref: str) -> tuple[str, str]:
    """Map a model reference to (what `from_pretrained` should load, the base checkpoint to record).

    Catalogue names, and the hub ids they stand for (what a manifest records as its base), use
    their locally installed weights when present, else their hub id. Other folders and hub ids
    pass through unchanged; a checkpoint folder written by `train`/`distill` records the base it was
    itself made from (its training.json), not a path on this machine.
    """
    entries = catalogue()
    entry = entries.get(ref) or next((e for e in entries.values() if e.checkpoint == ref), None)
    if entry is not None:
        local = entry.local_dir()
        return (str(local) if local else entry.checkpoint), entry.checkpoint
    path = Path(ref).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ValueError(
                f"{ref} is a folder but holds no config.json: pass a Hugging Face model folder "
                f"(one written by `emotion-train train`) or a catalogue name {sorted(catalogue())}"
            )
        if (path / INFO_FILE).is_file():  # a checkpoint of ours: record the hub model it grew from
            return str(path.resolve()), CheckpointInfo.read(path).base_checkpoint
        return str(path.resolve()), str(path.resolve())
    if "/" not in ref and not ref.startswith(("bert-", "roberta-", "distilbert-")):
        raise ValueError(
            f"unknown model {ref!r}: use a catalogue name {sorted(catalogue())}, "
            "a local model folder, or a Hugging Face hub id such as 'bert-base-uncased'"
        )
    return ref, ref
