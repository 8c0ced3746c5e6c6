"""What the benchmark scripts share: paths, CLI flags, child-process runs and the in-memory service."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT = "demo-benchmark"
MODEL_HELP = "DEFAULT_MODEL: 'store' or NAME[@VERSION]"


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of values (nearest rank, q in [0, 1])."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def make_parser(script: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with prog `python benchmarks/<script>` and the module docstring as description."""
    return argparse.ArgumentParser(
        prog=f"python benchmarks/{Path(script).name}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """Add --store (the model store folder, default models/store)."""
    parser.add_argument(
        "--store",
        type=Path,
        default=REPO_ROOT / "models" / "store",
        help="model store folder (default: the repository's models/store)",
    )


def add_model_arguments(
    parser: argparse.ArgumentParser,
    *,
    hf_help: str = "torch checkpoint for the pipeline baseline",
    model_help: str = MODEL_HELP,
) -> None:
    """Add --store, --model and --hf-checkpoint, in that order."""
    add_store_argument(parser)
    parser.add_argument("--model", default="store", help=model_help)
    parser.add_argument("--hf-checkpoint", type=Path, help=hf_help)


def compile_function_source() -> None:
    """Byte-compile the function's source as Cloud Functions' build does, before anything is timed.

    Google's Python functions buildpack runs `python3 -m compileall -f -q .` over the deployed
    source (GoogleCloudPlatform/buildpacks, cmd/python/functions_framework/lib/lib.go), so a cloud
    instance imports main.py and chat_emotion from .pyc. Where PYTHONDONTWRITEBYTECODE is set (as
    on the machines here) every measured process would otherwise compile them again (~33 ms of a
    cold instance). The .pyc land in the ignored __pycache__ folders (firebase.json, .gitignore).
    """
    import compileall

    functions = REPO_ROOT / "functions"
    compileall.compile_file(functions / "main.py", quiet=1)
    compileall.compile_dir(functions / "chat_emotion", quiet=1)
    compileall.compile_file(REPO_ROOT / "benchmarks" / "naive_main.py", quiet=1)


def load_line(load_before: float) -> str:
    """`cores=N load BEFORE -> NOW` for a report's header line."""
    return f"cores={os.cpu_count()} load {load_before:.1f} -> {os.getloadavg()[0]:.1f}"


def child_env() -> dict[str, str]:
    """The environment of a child process: offline, no GCE probe, no progress bars."""
    return {**os.environ, "NO_GCE_CHECK": "true", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}


def child_command(script: str, child: str, args: argparse.Namespace, *extra: str) -> list[str]:
    """The command that reruns `script` as `--child CHILD` with args' store, model and checkpoint."""
    command = [
        sys.executable,
        str(Path(script).resolve()),
        "--child",
        child,
        "--store",
        str(args.store),
        "--model",
        args.model,
        *extra,
    ]
    if args.hf_checkpoint:
        command += ["--hf-checkpoint", str(args.hf_checkpoint)]
    return command


def run_child(command: list[str], label: str, env: dict[str, str] | None = None) -> Any:
    """Run a child process from the repository root; the JSON on its last stdout line."""
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env or child_env())
    if out.returncode != 0:
        raise SystemExit(f"{label} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_service(
    args: argparse.Namespace, naive_threads: int | None = None, **settings: Any
) -> tuple[Any, Any]:
    """A child's (handler.Service, in-memory repository); `--child pipeline` swaps in the naive classifier."""
    sys.path[:0] = [str(REPO_ROOT / "functions"), str(REPO_ROOT / "benchmarks"), str(REPO_ROOT)]
    from chat_emotion import handler
    from chat_emotion.store import open_store

    from tests.support.memory_repository import MemoryRepository

    repository = MemoryRepository()
    config = handler.Settings(model_store=str(args.store), default_model=args.model, **settings)
    service = handler.Service(repository=repository, store=open_store(args.store), settings=config)
    if args.child == "pipeline":
        from function_latency import naive_classify_factory

        handler.classify = naive_classify_factory(str(args.hf_checkpoint), naive_threads)
    return service, repository


def artifact(store: Path, name: str) -> tuple[Path, Any]:
    """(folder, manifest) of what `name` serves in `store` ("default" too), sha256-verified."""
    if str(REPO_ROOT / "functions") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "functions"))
    from chat_emotion.artifact import verify_artifact
    from chat_emotion.store import LocalStore

    local = LocalStore(store)
    folder = local.fetch(*local.resolve(name))
    return folder, verify_artifact(folder)


def timed_message(service: Any, repository: Any, text: str, i: int) -> float:
    """Create message m{i} with `text` and run handler.process() on it; its milliseconds.

    Each message has its own sender: the rate limit counts it as it counts real traffic (one
    counter write per message) but never refuses a benchmark's hundreds of messages a second."""
    from chat_emotion import handler

    path = f"users/bench{i}/messages/m{i}"
    repository.create(path, {"text": text, "model": "default"})
    started = time.perf_counter()
    outcome = handler.process(service, handler.MessageEvent(document=path, event_id=str(i), project=PROJECT))
    elapsed = (time.perf_counter() - started) * 1000.0
    if outcome.state != "COMPLETED":
        raise SystemExit(f"message {i}: {outcome}")
    return elapsed
