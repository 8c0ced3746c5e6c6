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
from pathlib import Path
from typing import Any

from common import (
    PROJECT,
    REPO_ROOT,
    add_model_arguments,
    child_command,
    child_service,
    make_parser,
    run_child,
)


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
    service, repository = child_service(args, cache_mb=4096)
    import functions_framework
    from chat_emotion import handler
    from function_latency import texts

    from tests.support.cloudevents import created_event

    handler.install(service)
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
    parser = make_parser(__file__, __doc__)
    add_model_arguments(parser)
    parser.add_argument(
        "--messages", type=int, default=100, help="messages with the default model (default 100)"
    )
    parser.add_argument("--child", choices=["onnx", "pipeline"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.store = args.store.resolve()
    if args.child:
        child(args)
        return
    results = {}
    for side in ["onnx"] + (["pipeline"] if args.hf_checkpoint else []):
        command = child_command(__file__, side, args, "--messages", str(args.messages))
        results[side] = run_child(command, side)
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
