"""Every command the README and docs/*.md show is one the project still takes, as written.

Commands are read from the fenced code blocks (a trailing backslash continues a line; `#` starts a
comment). The training runs they describe take hours and the data, so this tier does not run
them: it checks what rots silently instead. `emotion-train` / `python -m training` commands must
parse with the CLI's own parser (subcommand, options, values); `benchmarks/*.py` scripts must
exist and list every option used in their `--help`; `make` targets must be in the Makefile.
A placeholder (ARCH, STORE, CHECKPOINT, ...) is read as a value. Commands that the tiers do run
end to end on tiny data live in tests/training/ (train, distill, thresholds, export, evaluate,
publish) and tests/e2e/ (make run).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def commands() -> list[tuple[str, str]]:
    """(where, command) for every shell line in a fenced block of the docs."""
    found = []
    for doc in DOCS:
        in_block, pending = False, ""
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if line.startswith("```"):
                in_block, pending = not in_block, ""
                continue
            if not in_block:
                continue
            line = pending + line.split(" #", 1)[0].rstrip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            text = line.strip()
            if re.match(r"^(emotion-train|python -m training|(\.venv/bin/)?python benchmarks/|make )", text):
                found.append((f"{doc.relative_to(REPO)}:{number}", text))
    return found


COMMANDS = commands()


def test_the_docs_show_commands() -> None:
    kinds = {c.split()[0] for _, c in COMMANDS}
    assert {"emotion-train", "make"} <= kinds and len(COMMANDS) > 20


@cache
def _help(script: str) -> str:
    out = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_documented_command_is_still_taken(where: str, command: str) -> None:
    argv = shlex.split(command)
    if argv[0] == "make":
        targets = set(re.findall(r"^([a-z0-9-]+):", (REPO / "Makefile").read_text(), re.MULTILINE))
        assert argv[1] in targets, f"{where}: no make target {argv[1]!r}"
        return
    if argv[0] == "emotion-train" or argv[:3] == ["python", "-m", "training"]:
        from training.cli import _parser

        args = argv[1:] if argv[0] == "emotion-train" else argv[3:]
        try:
            _parser().parse_args(args)
        except SystemExit as exit_:
            pytest.fail(f"{where}: `{command}` does not parse ({exit_})")
        return
    script = next(a for a in argv if a.startswith("benchmarks/"))
    assert (REPO / script).is_file(), f"{where}: {script} does not exist"
    text = _help(script)
    for option in (a.split("=")[0] for a in argv if a.startswith("--")):
        assert re.search(rf"(^|[\s,\[]){re.escape(option)}\b", text), f"{where}: {script} has no {option}"
