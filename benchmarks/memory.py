"""Peak memory of one function instance: the default model, then every model in the store warm.

A fresh process serves the real entry point (functions-framework's app for functions/main.py, a
real protobuf CloudEvent per message, the in-memory repository), then:

  1. classifies --messages messages with the default model (peak RSS = what a 256 MiB instance
     must hold: interpreter, functions-framework, Firebase SDK, ONNX Runtime, model, tokenizer);
  2. classifies one message with each further model in the store (`<store>/<name>/LATEST`),
     keeping them all warm (MODEL_CACHE_MB is raised so none is evicted), reporting RSS after each.

The baseline side (--hf-checkpoint) does step 1 with transformers.pipeline on the torch checkpoint.

    python benchmarks/memory.py --store models/store --hf-checkpoint runs/minilm

Peak RSS is the kernel's high-water mark (VmHWM) of the process. On Cloud Functions, a model
downloaded from gs:// also occupies /tmp, which is in memory: its file sizes are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT = "demo-benchmark"


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def store_models(store: Path) -> list[str]:
    return sorted(p.parent.name for p in store.glob("*/LATEST"))


def child(args: argparse.Namespace) -> None:
    os.environ.update(
        {
            "GCLOUD_PROJECT": PROJECT,
            "NO_GCE_CHECK": "true",
            "METADATA_SERVER_DETECTION": "none",
            "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
            "MODEL_STORE": str(args.store),
            "DEFAULT_MODEL": args.model,
            "MODEL_CACHE_MB": "4096",
        }
    )
    sys.path[:0] = [str(REPO_ROOT / "benchmarks"), str(REPO_ROOT)]
    import functions_framework
    from chat_emotion import handler
    from chat_emotion.store import open_store
    from function_latency import naive_classify_factory, texts

    from tests.support.cloudevents import created_event
    from tests.support.memory_repository import MemoryRepository

    repository = MemoryRepository()
    settings = handler.Settings(model_store=str(args.store), default_model=args.model, cache_mb=4096)
    handler.install(handler.Service(repository=repository, store=open_store(args.store), settings=settings))
    if args.child == "pipeline":
        handler.classify = naive_classify_factory(str(args.hf_checkpoint), None)
    app = functions_framework.create_app(
        target="classify_message",
        source=str(REPO_ROOT / "functions" / "main.py"),
        signature_type="cloudevent",
    )
    client = app.test_client()
    steps: list[dict[str, Any]] = [{"step": "framework + main.py imported", "rss_mb": status_mb("VmRSS")}]
    samples = texts(args.messages)

    def send(i: int, model: str) -> None:
        path = f"users/bench/messages/m{i}"
        fields = {"text": samples[i % len(samples)], "model": model}
        repository.create(path, fields)
        headers, body = created_event(path, fields, project=PROJECT)
        client.post("/", headers=headers, data=body)
        state = (repository.get(path) or {}).get("status", {}).get("state")
        if state != "COMPLETED":
            raise SystemExit(f"{model}: message not classified: {repository.get(path)}")

    for i in range(args.messages):
        send(i, "default")
    steps.append(
        {
            "step": f"default model, {args.messages} messages",
            "rss_mb": status_mb("VmRSS"),
            "peak_mb": status_mb("VmHWM"),
        }
    )
    if args.child == "onnx":
        default_name = next(iter(handler._service.model_cache().keys())).split("|")[-1].split("@")[0]
        for j, name in enumerate(n for n in store_models(args.store) if n != default_name):
            send(args.messages + j, name)
            steps.append({"step": f"+ {name}", "rss_mb": status_mb("VmRSS"), "peak_mb": status_mb("VmHWM")})
    print(json.dumps(steps))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/memory.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=REPO_ROOT / "models" / "store",
        help="model store folder (default: the repository's models/store)",
    )
    parser.add_argument("--model", default="store", help="DEFAULT_MODEL: 'store' or NAME[@VERSION]")
    parser.add_argument("--hf-checkpoint", type=Path, help="torch checkpoint for the pipeline baseline")
    parser.add_argument(
        "--messages", type=int, default=100, help="messages with the default model (default 100)"
    )
    parser.add_argument("--child", choices=["onnx", "pipeline"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.store = args.store.resolve()
    if args.child:
        child(args)
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    results = {}
    for side in ["onnx"] + (["pipeline"] if args.hf_checkpoint else []):
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            side,
            "--store",
            str(args.store),
            "--model",
            args.model,
            "--messages",
            str(args.messages),
        ]
        if args.hf_checkpoint:
            command += ["--hf-checkpoint", str(args.hf_checkpoint)]
        out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
        if out.returncode != 0:
            raise SystemExit(f"{side} failed:\n{out.stderr[-3000:]}")
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"memory of one instance (real entry point); store={args.store}")
    for side, steps in results.items():
        for s in steps:
            peak = f"{s['peak_mb']:7.0f}" if "peak_mb" in s else "      -"
            print(f"{side:9} {s['step']:34} RSS {s['rss_mb']:7.0f} MiB  peak {peak} MiB")
    for name in store_models(args.store):
        version = (args.store / name / "LATEST").read_text().strip()
        files = args.store / name / version
        size = sum(p.stat().st_size for p in files.iterdir() if p.is_file()) / 2**20
        print(f"model files {name}@{version}: {size:.1f} MiB (in /tmp, i.e. memory, when fetched from gs://)")
    if "pipeline" in results:
        o, p = results["onnx"][1]["peak_mb"], results["pipeline"][1]["peak_mb"]
        print(f"default model peak: onnx {o:.0f} MiB, pipeline {p:.0f} MiB, ratio {p / o:.1f}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
