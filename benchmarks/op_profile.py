"""Where a model's session run goes, operator by operator (ONNX Runtime's own profiler).

Loads what `--model` serves in the store (sha256-verified) with the function's session options
(chat_emotion.runtime.session_options, `--threads` intra-op threads), tokenizes `--messages` val
tweets (../shared/data/emotion/val.txt where present, else synthetic lines) the way the runtime
does, and runs them one at a time with profiling on. Prints, per operator type: nodes in the graph,
milliseconds per message and share of the run; then the time inside the session that no kernel
accounts for (framework overhead: input checks, allocation, output copies). Profiling adds its
own cost to each node, so the total is higher than benchmarks/warm.py's "run" column; the shares
are what this is for.

    python benchmarks/op_profile.py --model minilm-l2 --messages 500
    python benchmarks/op_profile.py --model goemotions --threads 2
"""

from __future__ import annotations

import collections
import json
import tempfile
from pathlib import Path

from common import add_store_argument, artifact, make_parser


def profile(folder: Path, texts: list[str], threads: int) -> dict:
    """{"run_ms": mean session run, "ops": {op: (nodes, ms per message)}, "outside_ms": ...}."""
    import onnxruntime as ort
    from chat_emotion.runtime import Classifier, session_options

    classifier = Classifier.load(folder, threads=threads, verify=False)
    options = session_options(threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as scratch:
        options.profile_file_prefix = str(Path(scratch) / "profile")
        session = ort.InferenceSession(str(folder / "model.onnx"), sess_options=options,
                                       providers=["CPUExecutionProvider"])
        for text in texts:
            session.run(None, classifier.feed([text]))
        events = json.loads(Path(session.end_profiling()).read_text())
    kernel_us: collections.Counter[str] = collections.Counter()
    nodes: dict[str, set[str]] = collections.defaultdict(set)
    run_us = []
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            kernel_us[op] += event["dur"]
            nodes[op].add(event["name"])
        elif event.get("cat") == "Session" and event["name"] == "model_run":
            run_us.append(event["dur"])
    n = len(texts)
    return {
        "run_ms": sum(run_us) / len(run_us) / 1000,
        "ops": {op: (len(nodes[op]), us / n / 1000) for op, us in kernel_us.most_common()},
        "outside_ms": (sum(run_us) - sum(kernel_us.values())) / n / 1000,
    }


def main() -> None:
    parser = make_parser(__file__, __doc__)
    add_store_argument(parser)
    parser.add_argument("--model", default="default", help="NAME[@VERSION] in the store, or 'default'")
    parser.add_argument("--messages", type=int, default=300, help="texts to run (default 300)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    args = parser.parse_args()
    if args.messages < 1 or args.threads < 1:
        parser.error("--messages and --threads must be at least 1")
    from function_latency import texts

    folder, manifest = artifact(args.store, args.model)
    result = profile(folder, texts(args.messages), args.threads)
    run = result["run_ms"]
    print(f"{manifest.ref}: session run {run:.3f} ms a message (profiled), {args.messages} messages, "
          f"{args.threads} thread(s)")
    print("| operator | nodes | ms / message | share |")
    print("| --- | --- | --- | --- |")
    for op, (count, ms) in result["ops"].items():
        print(f"| {op} | {count} | {ms:.3f} | {ms / run:.0%} |")
    print(f"| (outside kernels) | | {result['outside_ms']:.3f} | {result['outside_ms'] / run:.0%} |")


if __name__ == "__main__":
    main()
