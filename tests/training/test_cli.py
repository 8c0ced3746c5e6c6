"""The command line: every command has a usable --help, and mistakes end with a clear message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.training.conftest import REPO
from training.cli import main

COMMANDS = {
    "train": ["--data", "--epochs", "--max-length", "group", "Example"],
    "distill": ["--teacher", "--temperature", "--alpha", "--layers", "Example"],
    "export": ["--fp32", "--tolerance", "--min-agreement", "int8", "Example"],
    "evaluate": ["--data", "confusion matrix", "runtime", "Example"],
    "benchmark": ["--variants", "--threads", "cold start", "Example"],
    "rewrite": ["--pass", "first-row-only", "--eval-data", "Example"],
    "unfuse": ["--version", "--eval-data", "SkipLayerNormalization", "Example"],
    "publish": ["--store", "--default", "gs://", "Example"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_explains_the_command(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for needle in COMMANDS[command]:
        assert needle in text, f"{command} --help lacks {needle!r}"


def test_python_dash_m_training_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "training", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.returncode == 0
    for command in COMMANDS:
        assert command in out.stdout


def test_bad_data_path_is_reported_not_raised(tmp_path, capsys):
    code = main(["train", "minilm", "--data", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "o")])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_hyper_parameter_is_reported(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("a;joy\nb;sadness\n")
    code = main(
        ["train", "minilm", "--data", str(tmp_path / "t.txt"), "-o", str(tmp_path / "o"), "--lr", "0"]
    )
    assert code == 2
    assert "learning_rate must be a positive number" in capsys.readouterr().err


def test_benchmark_rejects_a_folder_that_is_not_a_checkpoint(tmp_path, capsys):
    code = main(["benchmark", "--model", f"x={tmp_path}", "--data", str(tmp_path), "-o", str(tmp_path / "b")])
    assert code == 2
    assert "not a checkpoint" in capsys.readouterr().err
