"""Under load: CONCURRENCY events at once on one instance, direct vs batched vs the naive baseline.

A closed loop: --concurrency threads each run handler.process() for one message after another
(real tweets, in-memory repository) until --messages are done, as Cloud Functions' per-instance
concurrency runs events on request threads. Modes, each in a fresh process, interleaved over
--repeats:

  direct    every event runs its own ONNX inference, 1 intra-op thread (the shipped default)
  batched   benchmarks/batching.py in front of the model: one worker thread, intra-op threads =
            cores, adaptive wait (--max-wait-ms, only while others are queued), length buckets
  pipeline  the naive handler: transformers.pipeline on the torch checkpoint, torch's defaults

    python benchmarks/load.py --store models/store --hf-checkpoint runs/minilm --concurrency 16 \\
        --messages 800 --repeats 3

Prints messages/s and per-message p50/p95 (event start -> written back), medians over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from typing import Any

from common import (
    add_model_arguments,
    child_command,
    child_service,
    load_line,
    make_parser,
    percentile,
    run_child,
    timed_message,
)

MODES = ("direct", "batched", "pipeline")


def child(args: argparse.Namespace) -> None:
    service, repository = child_service(args, threads=1)
    from function_latency import texts

    samples = texts(args.messages + 1)
    counter = iter(range(1, args.messages + 1))
    lock = threading.Lock()
    latencies: list[float] = []

    def one(i: int) -> float:
        return timed_message(service, repository, samples[i], i)

    one(0)  # load the model (cold), not counted
    batcher = None
    if args.child == "batched":
        from batching import BatchingClassifier, batch_threads
        from chat_emotion.runtime import Classifier

        cache = service.model_cache()
        (key,) = cache.keys()
        direct = cache.get(key, lambda: None)
        batcher = BatchingClassifier(
            Classifier.load(direct.directory, threads=batch_threads(), verify=False),
            max_wait_ms=args.max_wait_ms,
        )
        cache.clear()
        cache.get(key, lambda: batcher)  # the handler now classifies through the batcher
        one(args.messages)  # warm the batcher's session (the last text; overwritten by the run)

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            elapsed = one(i)
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    result: dict[str, Any] = {
        "msg_s": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
    }
    if batcher is not None:
        result["mean_batch"] = batcher.batched_texts / max(1, batcher.runs)
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__file__, __doc__)
    add_model_arguments(parser)
    parser.add_argument(
        "--modes", default="direct,batched,pipeline", help="comma-separated, from " + ",".join(MODES)
    )
    parser.add_argument("--concurrency", type=int, default=16, help="events in flight (default 16)")
    parser.add_argument("--messages", type=int, default=800, help="messages per run (default 800)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode (median shown)")
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=2.0,
        help="batched: wait for more only while others are queued (default 2)",
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.store = args.store.resolve()
    if args.child:
        child(args)
        return
    modes = [m for m in args.modes.split(",") if m != "pipeline" or args.hf_checkpoint]
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for _ in range(args.repeats):
        for mode in modes:
            messages = args.messages if mode != "pipeline" else max(args.concurrency * 4, args.messages // 4)
            command = child_command(
                __file__,
                mode,
                args,
                "--concurrency",
                str(args.concurrency),
                "--messages",
                str(messages),
                "--max-wait-ms",
                str(args.max_wait_ms),
            )
            runs[mode].append(run_child(command, mode))
    print(
        f"load: concurrency {args.concurrency}, {args.messages} messages (pipeline: fewer), median of "
        f"{args.repeats}; {load_line(load_before)}; "
        f"batched: max batch 16, max wait {args.max_wait_ms} ms"
    )
    print(f"{'mode':10} {'msg/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'mean batch':>10}")
    summary = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    for mode, s in summary.items():
        print(
            f"{mode:10} {s['msg_s']:8.1f} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} "
            f"{s.get('mean_batch', 1.0):10.1f}"
        )
    if "pipeline" in summary:
        base = summary["pipeline"]["msg_s"]
        print(
            "throughput vs pipeline: "
            + ", ".join(f"{m} {s['msg_s'] / base:.1f}x" for m, s in summary.items() if m != "pipeline")
        )
    if "direct" in summary and "batched" in summary:
        print(
            f"batched/direct: {summary['batched']['msg_s'] / summary['direct']['msg_s']:.2f}x msg/s, "
            f"p95 {summary['batched']['p95_ms'] / summary['direct']['p95_ms']:.2f}x"
        )
    print(json.dumps({"summary": summary, "runs": runs}))


if __name__ == "__main__":
    main()
