"""Rebuild every model shipped in models/store from the data, with the commands that made it.

Each shipped manifest records how it was made: `provenance.training_command` (train, distill, and
for multi-label models the thresholds tuned at the end of training) and `provenance.command` (the
export). This runs them again in an order where every checkpoint exists before a command that
starts from it (`runs/minilm` is trained before `distill runs/minilm --keep-layers 0,3 ...`), then
publishes each new artifact into --into (a fresh folder store: the shipped versions are immutable
and stay as they are). Hours on 2 cores, so never part of CI; `--dry-run` prints the plan.

    .venv/bin/python scripts/rebuild_models.py --dry-run
    .venv/bin/python scripts/rebuild_models.py --only minilm --only minilm-l2 --into runs/rebuilt-store
    make models                                   # all of them, into runs/rebuilt-store
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / "models" / "store"


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    train: list[str]
    export: list[str]
    publish: bool = True
    """False for a distillation teacher that is not shipped: built for its student only."""

    def _option(self, argv: list[str], *flags: str) -> str | None:
        for i, arg in enumerate(argv):
            if arg in flags and i + 1 < len(argv):
                return argv[i + 1]
        return None

    @property
    def checkpoint(self) -> str:
        """The folder the training command writes."""
        return self._option(self.train, "-o", "--output") or ""

    @property
    def artifact(self) -> str:
        return self._option(self.export, "-o", "--output") or ""

    @property
    def needs(self) -> set[str]:
        """Folders the training command reads: its starting model and its teacher."""
        start = self.train[2] if len(self.train) > 2 else ""
        return {a for a in (start, self._option(self.train, "--teacher")) if a and "/" in a}


def _recipe(version_dir: Path) -> Recipe:
    manifest = json.loads((version_dir / "manifest.json").read_text())
    provenance = manifest["provenance"]
    return Recipe(manifest["name"], manifest["version"], shlex.split(provenance["training_command"]),
                  shlex.split(provenance["command"]))


def _teacher_recipes(version_dir: Path) -> list[Recipe]:
    """The recipe a student's manifest records for a teacher that was exported but not shipped."""
    manifest = json.loads((version_dir / "manifest.json").read_text())
    teacher = (manifest["provenance"].get("distillation") or {}).get("teacher_recipe") or {}
    if not teacher.get("training_command") or not teacher.get("command"):
        return []
    return [Recipe(f"{manifest['name']}-teacher", manifest["version"],
                   shlex.split(teacher["training_command"]), shlex.split(teacher["command"]), publish=False)]


def recipes(store: Path = STORE) -> list[Recipe]:
    """The recipe of each model's LATEST version, plus those of the older versions whose checkpoints
    they start from (minilm-l2 is cut from the checkpoint an earlier minilm was exported from), in
    an order that builds what a recipe starts from first."""
    manifests = sorted(store.glob("*/*/manifest.json"))
    everything = [_recipe(m.parent) for m in manifests]
    everything += [t for m in manifests for t in _teacher_recipes(m.parent)]
    found = [_recipe(latest.parent / latest.read_text().strip()) for latest in sorted(store.glob("*/LATEST"))]
    while True:
        produced = {r.checkpoint for r in found} | {r.artifact for r in found}
        missing = {need for r in found for need in r.needs if need.startswith("runs/")} - produced
        extra = [r for r in everything if {r.checkpoint, r.artifact} & missing and r not in found]
        if not extra:
            break
        found += [r for i, r in enumerate(extra) if r.checkpoint not in {e.checkpoint for e in extra[:i]}]
    ordered: list[Recipe] = []
    pending = list(found)
    while pending:
        outputs = {r.checkpoint for r in pending} | {r.artifact for r in pending}  # still to be built
        ready = [r for r in pending if not r.needs & outputs]
        if not ready:
            raise SystemExit(f"recipes depend on each other in a cycle: {[r.name for r in pending]}")
        ordered.extend(ready)
        pending = [r for r in pending if r not in ready]
    return ordered


def steps(recipe: Recipe, into: Path) -> list[list[str]]:
    """The commands for one model: train / distill, export, publish into the store `into`."""
    cli = [sys.executable, "-m", "training"]
    publish = [cli + ["publish", recipe.artifact, "--store", str(into)]] if recipe.publish else []
    return [cli + recipe.train[1:], cli + recipe.export[1:], *publish]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/rebuild_models.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--into", type=Path, default=REPO / "runs" / "rebuilt-store",
                        help="folder store the rebuilt artifacts are published into "
                             "(default runs/rebuilt-store)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="rebuild only this model (repeatable); what it starts from must exist")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    plan = [r for r in recipes() if not args.only or r.name in args.only]
    unknown = set(args.only) - {r.name for r in plan}
    if unknown:
        parser.error(f"no shipped model named {', '.join(sorted(unknown))}")
    commands = [(r, cmd) for r in plan for cmd in steps(r, args.into)]
    started = time.monotonic()
    for number, (recipe, cmd) in enumerate(commands, 1):
        shown = "emotion-train " + shlex.join(cmd[3:])
        print(f"[{number}/{len(commands)}] {recipe.name}@{recipe.version}: {shown}", flush=True)
        if args.dry_run:
            continue
        if subprocess.run(cmd, cwd=REPO).returncode != 0:
            print(f"failed at step {number} ({recipe.name}); the steps before it are done", file=sys.stderr)
            return 1
        print(f"    done; {(time.monotonic() - started) / 60:.0f} min so far", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
