"""Warm per-message latency at batch 1, 1 and 2 threads, and where the time goes.

Each (side, threads) runs in a fresh process that first classifies one message (cold, not
counted), then --messages real tweets one by one through handler.process() with the in-memory
repository. Sides: `onnx` (chat_emotion.runtime) and `pipeline` (the same handler with
transformers.pipeline on the torch checkpoint: the baseline). For the ONNX side the same texts
are also timed phase by phase: tokenize (tokenizers encode_batch + numpy feed), run
(InferenceSession.run), post (softmax, Prediction), and the handler's own overhead (validate,
resolve, cache lookup, emotion map, claim/complete on the in-memory repository, log line).
With --emulator, the write-back (FirestoreRepository.complete: one Firestore update) is timed
against the official emulator too.

    python benchmarks/warm.py --store models/store --hf-checkpoint runs/minilm --messages 300 --repeats 3

Figures are medians over --repeats processes (interleaved, so every side sees the same load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from common import (
    PROJECT,
    REPO_ROOT,
    add_model_arguments,
    child_command,
    child_env,
    child_service,
    load_line,
    make_parser,
    percentile,
    run_child,
    timed_message,
)


def child(args: argparse.Namespace) -> None:
    service, repository = child_service(args, naive_threads=args.threads, threads=args.threads)
    from function_latency import texts

    samples = texts(args.messages + 1)

    def one(i: int) -> float:
        return timed_message(service, repository, samples[i], i)

    one(0)
    total = [one(i) for i in range(1, args.messages + 1)]
    result: dict[str, Any] = {"total_ms": total}
    if args.child == "onnx":
        import numpy as np

        classifier = next(iter(service.model_cache()._models.values()))[0]
        phases: dict[str, list[float]] = {"tokenize_ms": [], "run_ms": [], "post_ms": []}
        for text in samples[1:]:
            t0 = time.perf_counter()
            feed = classifier.feed([text])
            t1 = time.perf_counter()
            (logits,) = classifier._session.run([classifier._output_name], feed)
            t2 = time.perf_counter()
            classifier._prediction(np.asarray(logits, dtype=np.float32)[0])
            t3 = time.perf_counter()
            phases["tokenize_ms"].append((t1 - t0) * 1000)
            phases["run_ms"].append((t2 - t1) * 1000)
            phases["post_ms"].append((t3 - t2) * 1000)
        result |= phases
        result["tokens_p50"] = statistics.median(
            sum(classifier._tokenizer.encode(t).attention_mask) for t in samples
        )
    print(json.dumps(result))


def write_back_ms(messages: int) -> list[float]:
    """FirestoreRepository.complete (one update) against the official emulator, per message."""
    sys.path[:0] = [str(REPO_ROOT / "functions"), str(REPO_ROOT / "benchmarks")]
    os.environ.setdefault("NO_GCE_CHECK", "true")
    from chat_emotion.repository import FirestoreRepository
    from local_stack import FirestoreEmulator

    from tests.support.firestore_rest import commit_create

    with FirestoreEmulator(project=PROJECT, rules=None) as emulator:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        repository = FirestoreRepository.for_database(PROJECT)
        emotion = {
            "label": "joy",
            "score": 0.9,
            "scores": {"joy": 0.9, "sadness": 0.1},
            "model": "minilm",
            "modelVersion": "v",
            "latencyMs": 3.0,
        }
        times = []
        for i in range(messages + 1):
            path = f"users/bench/messages/w{i}"
            commit_create(emulator, path, {"text": "hi", "model": "default"}, emulator.admin_headers)
            repository.claim(path, lease_s=120)
            started = time.perf_counter()
            repository.complete(path, emotion)
            times.append((time.perf_counter() - started) * 1000)
        return times[1:]


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__file__, __doc__)
    add_model_arguments(parser, hf_help="torch checkpoint for the baseline")
    parser.add_argument("--messages", type=int, default=300, help="warm messages per process (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="processes per side and thread count")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--emulator", action="store_true", help="also time the write-back on the emulator")
    parser.add_argument("--child", choices=["onnx", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--threads-one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.store = args.store.resolve()
    if args.child:
        args.threads = args.threads_one
        child(args)
        return
    threads = [int(t) for t in args.threads.split(",")]
    sides = ["onnx"] + (["pipeline"] if args.hf_checkpoint else [])
    load_before = os.getloadavg()[0]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {(s, t): [] for s in sides for t in threads}
    for _ in range(args.repeats):
        for side, t in runs:
            command = child_command(
                __file__, side, args, "--threads-one", str(t), "--messages", str(args.messages)
            )
            env = {**child_env(), "OMP_NUM_THREADS": str(t)}
            runs[(side, t)].append(run_child(command, f"{side} x{t}", env))
    print(
        f"warm, batch 1, {args.messages} messages x {args.repeats} processes (median of per-process "
        f"figures); {load_line(load_before)}"
    )
    print(
        f"{'side':10} {'threads':>7} {'p50 ms':>8} {'p95 ms':>8} {'msg/s':>7} | {'tokenize':>8} {'run':>8} "
        f"{'post':>8} {'handler':>8}  (p50 ms)"
    )
    summary: dict[str, dict[str, float]] = {}
    for (side, t), rs in runs.items():

        def med(key: str, q: float = 0.5, rs: list[dict[str, Any]] = rs) -> float:
            return statistics.median(percentile(r[key], q) for r in rs) if key in rs[0] else float("nan")

        p50, p95 = med("total_ms"), med("total_ms", 0.95)
        rate = statistics.median(1000 * len(r["total_ms"]) / sum(r["total_ms"]) for r in rs)
        tok, run, post = med("tokenize_ms"), med("run_ms"), med("post_ms")
        overhead = p50 - (tok + run + post) if side == "onnx" else float("nan")
        summary[f"{side}x{t}"] = {
            "p50_ms": p50,
            "p95_ms": p95,
            "msg_s": rate,
            "tokenize_ms": tok,
            "run_ms": run,
            "post_ms": post,
            "handler_ms": overhead,
        }
        print(
            f"{side:10} {t:7d} {p50:8.2f} {p95:8.2f} {rate:7.0f} | {tok:8.3f} {run:8.3f} {post:8.3f} "
            f"{overhead:8.3f}"
        )
    for t in threads:
        if f"pipelinex{t}" in summary:
            o, p = summary[f"onnxx{t}"], summary[f"pipelinex{t}"]
            print(
                f"ratio pipeline/onnx at {t} thread(s): p50 {p['p50_ms'] / o['p50_ms']:.1f}x, "
                f"p95 {p['p95_ms'] / o['p95_ms']:.1f}x"
            )
    if "onnxx1" in summary:
        tokens = statistics.median(r["tokens_p50"] for r in runs[("onnx", threads[0])])
        print(f"median message length: {tokens:.0f} tokens")
    if args.emulator:
        times = write_back_ms(min(args.messages, 200))
        print(
            f"write-back (FirestoreRepository.complete on the emulator): "
            f"p50 {percentile(times, 0.5):.2f} ms, "
            f"p95 {percentile(times, 0.95):.2f} ms"
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
