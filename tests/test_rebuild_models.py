"""scripts/rebuild_models.py: the recipe of every shipped model, in an order that can run."""

from __future__ import annotations

import pytest

from scripts.rebuild_models import STORE, main, recipes
from training.cli import _parser

RECIPES = recipes() if STORE.is_dir() else []


def test_every_shipped_model_has_a_recipe() -> None:
    names = {p.parent.name for p in STORE.glob("*/LATEST")}
    assert names and {r.name for r in RECIPES if r.publish} == names


def test_every_checkpoint_a_recipe_starts_from_is_built_by_the_plan() -> None:
    """A checkpoint under runs/ is not in the repository: some recipe of the plan must make it
    (an older version's, when the LATEST one of that name now writes elsewhere)."""
    produced = {r.checkpoint for r in RECIPES} | {r.artifact for r in RECIPES}
    needed = {need for r in RECIPES for need in r.needs if need.startswith("runs/")}
    assert needed and needed <= produced


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_a_recipe_parses_and_exports_what_it_trained(recipe) -> None:
    for argv in (recipe.train, recipe.export):
        assert argv[0] == "emotion-train"
        _parser().parse_args(argv[1:])  # SystemExit (a failure) if the CLI no longer takes it
    assert recipe.train[1] in ("train", "distill") and recipe.export[1] == "export"
    assert recipe.export[2] == recipe.checkpoint  # export reads the folder training wrote
    assert recipe.artifact


def test_a_model_is_built_after_what_it_starts_from() -> None:
    position = {path: i for i, r in enumerate(RECIPES) for path in (r.checkpoint, r.artifact)}
    for i, recipe in enumerate(RECIPES):
        for need in recipe.needs & set(position):
            assert position[need] < i, f"{recipe.name} needs {need} before it"


def test_dry_run_lists_train_export_publish_per_model(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["--dry-run", "--into", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    shipped = [r for r in RECIPES if r.publish]
    assert len(lines) == 3 * len(shipped) + 2 * (len(RECIPES) - len(shipped))
    assert len(shipped) >= len(list(STORE.glob("*/LATEST")))
    assert sum(" publish " in line and str(tmp_path) in line for line in lines) == len(shipped)
    with pytest.raises(SystemExit):
        main(["--dry-run", "--only", "no-such-model"])
