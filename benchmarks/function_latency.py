"""Cold start and warm latency of the Cloud Function, beside the same handler written the naive way.

Both sides run the real entry point (functions/main.py:classify_message through functions-framework,
a real protobuf CloudEvent per message, the same claim/validate/write-back code) in a fresh process;
only the inference differs:

  onnx      chat_emotion.runtime: ONNX Runtime + tokenizers + numpy, the model from the model store
  pipeline  transformers.pipeline("text-classification") on the torch checkpoint of the same model

Cold start = from spawning the process to the first message classified (interpreter, imports,
model load, first inference). Warm = per message afterwards, through the whole entry point;
"infer" = the part the function logs as latencyMs (model lookup, tokenize, run). Messages are
written to the unit tier's in-memory repository, so Firestore round trips (the same for both)
stay out of the figures.

    python benchmarks/function_latency.py --store models/store --model default \\
        --hf-checkpoint runs/minilm --messages 200 --repeats 3

Without --hf-checkpoint only the ONNX side runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT = "demo-benchmark"


def texts(count: int) -> list[str]:
    """Real tweets from ../shared/data/emotion/val.txt where present, else varied synthetic lines."""
    val = REPO_ROOT.parent / "shared" / "data" / "emotion" / "val.txt"
    if val.is_file():
        lines = [line.rsplit(";", 1)[0] for line in val.read_text().splitlines() if ";" in line]
        return [lines[i % len(lines)] for i in range(count)]
    line = "i feel so happy today but also a little worried about tomorrow and what it brings"
    return [line[: 20 + (i * 7) % (len(line) - 20)] for i in range(count)]


# --- the child: one fresh process per measurement ---------------------------------------------------

def naive_classify_factory(checkpoint: str, torch_threads: int | None):
    """handler.classify, the naive way: a transformers pipeline built on first use, torch defaults."""
    state: dict[str, Any] = {}

    def classify(service: Any, text: str, model_value: object) -> dict[str, Any]:
        if "pipe" not in state:
            from transformers import pipeline

            if torch_threads:
                import torch

                torch.set_num_threads(torch_threads)

            state["pipe"] = pipeline("text-classification", model=checkpoint, top_k=None, device=-1)
        started = time.perf_counter()
        scores = state["pipe"]([text], truncation=True)[0]
        best = max(scores, key=lambda s: s["score"])
        return {"label": best["label"], "score": float(best["score"]),
                "scores": {s["label"]: float(s["score"]) for s in scores},
                "model": Path(checkpoint).name, "modelVersion": "torch",
                "latencyMs": round((time.perf_counter() - started) * 1000.0, 2)}

    return classify


def child(args: argparse.Namespace) -> None:
    spawned = float(args.spawned_at)
    os.environ.update({"GCLOUD_PROJECT": PROJECT, "NO_GCE_CHECK": "true", "METADATA_SERVER_DETECTION": "none",
                       # The SDK builds a Firestore client per event and needs an address; nothing is sent.
                       "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
                       "MODEL_STORE": str(args.store), "DEFAULT_MODEL": args.model})
    sys.path.insert(0, str(REPO_ROOT))
    import functions_framework
    from chat_emotion import handler
    from chat_emotion.store import open_store

    from tests.support.cloudevents import created_event
    from tests.support.memory_repository import MemoryRepository

    repository = MemoryRepository()
    settings = handler.Settings(model_store=str(args.store), default_model=args.model, threads=args.threads)
    handler.install(handler.Service(repository=repository, store=open_store(args.store), settings=settings))
    if args.impl == "pipeline":
        handler.classify = naive_classify_factory(args.hf_checkpoint, args.torch_threads)  # only this differs
    source = str(REPO_ROOT / "functions" / "main.py")
    app = functions_framework.create_app(target="classify_message", source=source,
                                         signature_type="cloudevent")
    client = app.test_client()
    samples = texts(args.messages + 1)

    inference_ms: list[float] = []

    def one(i: int) -> float:
        path = f"users/bench/messages/m{i}"
        fields = {"text": samples[i], "model": "default"}
        repository.create(path, fields)
        headers, body = created_event(path, fields, project=PROJECT)
        started = time.perf_counter()
        response = client.post("/", headers=headers, data=body)
        elapsed = time.perf_counter() - started
        doc = repository.get(path) or {}
        if response.status_code != 200 or doc.get("status", {}).get("state") != "COMPLETED":
            raise SystemExit(f"message {i} not classified: {response.status_code} {doc.get('status')}")
        inference_ms.append(doc["emotion"]["latencyMs"])  # lookup + tokenize + run, as the function logs it
        return elapsed

    first = one(0)
    cold = time.time() - spawned
    warm = [one(i) * 1000.0 for i in range(1, args.messages + 1)]
    print(json.dumps({"cold_s": cold, "first_message_s": first, "warm_ms": warm,
                      "inference_ms": inference_ms[1:],
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


# --- the parent: spawn, collect, compare -------------------------------------------------------------

def run_child(impl: str, args: argparse.Namespace, messages: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", impl, "--store", str(args.store),
               "--model", args.model, "--messages", str(messages), "--threads", str(args.threads),
               "--torch-threads", str(args.torch_threads or 0)]
    if args.hf_checkpoint:
        command += ["--hf-checkpoint", str(args.hf_checkpoint)]
    command += ["--spawned-at", repr(time.time())]  # the clock starts as the process is spawned
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{impl} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(impl: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    warm = sorted(runs[-1]["warm_ms"])
    return {
        "cold_s": statistics.median(r["cold_s"] for r in runs),
        "warm_p50_ms": statistics.median(warm),
        "warm_p90_ms": warm[int(0.9 * (len(warm) - 1))],
        "inference_p50_ms": statistics.median(runs[-1]["inference_ms"]),
        "msgs_per_s": 1000.0 * len(warm) / sum(warm),
        "rss_mb": max(r["rss_mb"] for r in runs),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/function_latency.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=REPO_ROOT / "models" / "store",
                        help="model store folder (default: the repository's models/store)")
    parser.add_argument("--model", default="default",
                        help="model reference the function serves as default: default, NAME or NAME@VERSION")
    parser.add_argument("--hf-checkpoint", type=Path,
                        help="torch checkpoint of the same model for the transformers.pipeline baseline")
    parser.add_argument("--messages", type=int, default=200, help="warm messages per run (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="cold starts per side; the median is shown")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch threads for the pipeline side (default 0: torch's default, all cores)")
    parser.add_argument("--child", choices=["onnx", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--spawned-at", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.impl = args.child
        child(args)
        return
    args.store = args.store.resolve()
    sides = ["onnx"] + (["pipeline"] if args.hf_checkpoint else [])
    results = {}
    for impl in sides:
        # Cold starts with one message each, then one run with the warm messages.
        runs = [run_child(impl, args, 1) for _ in range(max(0, args.repeats - 1))]
        runs.append(run_child(impl, args, args.messages))
        results[impl] = summarise(impl, runs)
    print(f"cores={os.cpu_count()} store={args.store} model={args.model} messages={args.messages} "
          f"repeats={args.repeats} onnx_threads={args.threads} "
          f"torch_threads={args.torch_threads or 'default'} load={os.getloadavg()[0]:.1f}")
    print(f"{'':10} {'cold start s':>12} {'warm p50 ms':>12} {'warm p90 ms':>12} {'infer p50 ms':>12} "
          f"{'msg/s':>8} {'max RSS MB':>11}")
    for impl, r in results.items():
        print(f"{impl:10} {r['cold_s']:12.2f} {r['warm_p50_ms']:12.2f} {r['warm_p90_ms']:12.2f} "
              f"{r['inference_p50_ms']:12.2f} {r['msgs_per_s']:8.1f} {r['rss_mb']:11.0f}")
    if "pipeline" in results:
        o, p = results["onnx"], results["pipeline"]
        print(f"ratio pipeline/onnx: cold start {p['cold_s'] / o['cold_s']:.1f}x, "
              f"warm p50 {p['warm_p50_ms'] / o['warm_p50_ms']:.1f}x, RSS {p['rss_mb'] / o['rss_mb']:.1f}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
