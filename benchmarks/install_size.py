"""Installed size of the function's dependencies (functions/requirements.txt) vs the torch stack.

Each set goes into a fresh temporary virtual environment (`python -m venv`, `pip install`), and the
size of its site-packages is measured (du-style, bytes on disk of every file). The torch stack is
what the naive baseline needs on top of the same Firebase packages: functions/requirements.txt
without onnxruntime/tokenizers, plus torch (CPU build) and transformers.

    python benchmarks/install_size.py [--torch torch==2.13.0] [--transformers transformers==5.24.0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "functions" / "requirements.txt"
ONNX_ONLY = ("onnxruntime", "tokenizers")


def site_packages_bytes(venv: Path) -> int:
    (site,) = venv.glob("lib/python*/site-packages")
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())


def install(requirements: list[str], workdir: Path, name: str) -> int:
    venv = workdir / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    base = site_packages_bytes(venv)
    # The outer interpreter's pip installs into the venv's site-packages (the venv has none of its own).
    (site,) = venv.glob("lib/python*/site-packages")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(site),
            *requirements,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return site_packages_bytes(venv) - base


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/install_size.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--torch", default="torch==2.13.0", help="torch requirement (default: the CPU build)")
    parser.add_argument("--transformers", default="transformers==5.24.0", help="transformers requirement")
    args = parser.parse_args(argv)
    function_reqs = [
        line.strip()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    firebase_only = [r for r in function_reqs if not r.startswith(ONNX_ONLY)]
    with tempfile.TemporaryDirectory(prefix="install-size-") as tmp:
        sizes = {
            "functions/requirements.txt (ONNX)": install(function_reqs, Path(tmp), "onnx"),
            "Firebase packages + torch + transformers (baseline)": install(
                [args.torch, *firebase_only, args.transformers], Path(tmp), "torch"
            ),
        }
    print("installed size (site-packages, without .pyc):")
    for name, size in sizes.items():
        print(f"  {name:55} {size / 2**20:8.0f} MiB")
    onnx, torch = sizes.values()
    print(f"ratio baseline/onnx: {torch / onnx:.1f}x")


if __name__ == "__main__":
    main()
