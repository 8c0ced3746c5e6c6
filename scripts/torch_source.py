"""Where `make setup` installs torch from: prints the pip options, one per line (scripts/setup.sh).

Against the public index, `torch==2.13.0` resolves to the CUDA build on Linux: a ~500 MB wheel and
~16 `nvidia-*` / `triton` wheels, several GB, useless on a machine without an NVIDIA GPU. So:

  * an NVIDIA GPU present (`nvidia-smi -L` lists one, or /proc/driver/nvidia/gpus has one):
    the default build, from whatever index pip is configured with;
  * no GPU, PyTorch's CPU index reachable: `--index-url https://download.pytorch.org/whl/cpu`
    (torch's own dependencies are mirrored there), the ~200 MB CPU build;
  * no GPU, that index unreachable (an offline mirror, a proxy): pip's configured index, and a
    warning on stderr, since a public index would then send the CUDA build.

TORCH_INDEX_URL overrides the choice (an empty value: pip's configured index).

    python scripts/torch_source.py            # the options, e.g. "--index-url\\nhttps://..."
    python scripts/torch_source.py --explain  # the choice and why, for a person
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def has_nvidia_gpu(proc_dir: Path = Path("/proc/driver/nvidia/gpus"),
                   which: Callable[[str], str | None] = shutil.which) -> bool:
    if proc_dir.is_dir() and any(proc_dir.iterdir()):
        return True
    smi = which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def reachable(url: str, timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/torch/", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def choose(gpu: bool, cpu_index_reachable: Callable[[], bool],
           override: str | None = None) -> tuple[list[str], str]:
    """(pip options, why) for installing torch."""
    if override is not None:
        return (["--index-url", override] if override else []), f"TORCH_INDEX_URL={override!r}"
    if gpu:
        return [], "an NVIDIA GPU is present: the default (CUDA) build from pip's configured index"
    if cpu_index_reachable():
        return ["--index-url", CPU_INDEX], f"no NVIDIA GPU: the CPU build from {CPU_INDEX}"
    return [], (f"no NVIDIA GPU, but {CPU_INDEX} is unreachable: torch comes from pip's configured "
                "index (a public index would send the multi-GB CUDA build; set TORCH_INDEX_URL to a "
                "CPU wheel index, or PIP_FIND_LINKS to a folder holding the CPU wheel)")


def main(argv: list[str]) -> int:
    options, why = choose(has_nvidia_gpu(), lambda: reachable(CPU_INDEX), os.environ.get("TORCH_INDEX_URL"))
    if "--explain" in argv:
        print(why)
    else:
        print(f"[setup] torch: {why}", file=sys.stderr)
        if options:
            print("\n".join(options))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
