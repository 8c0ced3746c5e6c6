"""What a cold serving instance imports before its first label, cut by cut (`python -X importtime`).

Each row is a fresh interpreter in functions/venv (what the cloud installs; --python to choose)
that imports what a serving instance of `classify_message` does, in the order it does:
functions-framework, then functions/main.py (listening), then on the first event the handler, its
Firestore client and the inference stack. Two configurations side by side:

  sdk    main.py through firebase_functions.firestore_fn (the decorator, and the SDK's event
         decoding: google.cloud.firestore_v1, firebase_admin), the gRPC Firestore client
  ours   main.py's serving path (FUNCTION_TARGET=classify_message: chat_emotion.cloudevent) and
         the REST repository (chat_emotion.firestore_rest, urllib3)

Cumulative import time per step, median of --repeats processes, and the sum.

    python benchmarks/serving_imports.py --repeats 7
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from common import REPO_ROOT, compile_function_source, load_line, make_parser

STEPS = {
    "sdk": [("functions-framework", "functions_framework"), ("main.py (listening)", "main"),
            ("handler", "chat_emotion.handler"), ("Firestore client", "google.cloud.firestore"),
            ("inference stack", "chat_emotion.runtime")],
    "ours": [("functions-framework", "functions_framework"), ("main.py (listening)", "main"),
             ("handler", "chat_emotion.handler"), ("Firestore client", "chat_emotion.firestore_rest"),
             ("inference stack", "chat_emotion.runtime")],
}


def measure(python: str, side: str) -> dict[str, float]:
    """Seconds each step's import adds in one fresh process (what earlier steps loaded is free)."""
    env = {k: v for k, v in os.environ.items() if k != "FUNCTION_TARGET"}
    if side == "ours":
        env["FUNCTION_TARGET"] = "classify_message"
    code = "; ".join(f"import {module}" for _, module in STEPS[side])
    out = subprocess.run([python, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT / "functions", env=env, check=True)
    top: dict[str, float] = {}
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2][1:2].isspace():  # top level
            top[parts[2].strip()] = int(parts[1]) / 1e6
    return {label: top.get(module, 0.0) for label, module in STEPS[side]}


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__file__, __doc__)
    parser.add_argument("--python", default=str(REPO_ROOT / "functions" / "venv" / "bin" / "python"),
                        help="interpreter to measure (default functions/venv/bin/python: make setup-e2e)")
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes per side (default 7)")
    args = parser.parse_args(argv)
    if not os.path.exists(args.python):
        raise SystemExit(f"{args.python} does not exist: run `make setup-e2e`, or pass --python")
    compile_function_source()  # the cloud's build step (benchmarks/common.py), never timed
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in STEPS}
    for _ in range(args.repeats):
        for side in STEPS:  # interleaved: both sides see the same load
            runs[side].append(measure(args.python, side))
    print(f"imports of a serving instance, seconds (median of {args.repeats}); {load_line(load_before)}")
    print(f"{'step':22} {'sdk':>8} {'ours':>8} {'saved':>8}")
    totals = {side: 0.0 for side in STEPS}
    for i, (label, _) in enumerate(STEPS["sdk"]):
        medians = {side: statistics.median(run[STEPS[side][i][0]] for run in runs[side]) for side in STEPS}
        for side in STEPS:
            totals[side] += medians[side]
        saved = medians["sdk"] - medians["ours"]
        print(f"{label:22} {medians['sdk']:8.3f} {medians['ours']:8.3f} {saved:8.3f}")
    print(f"{'total':22} {totals['sdk']:8.3f} {totals['ours']:8.3f} {totals['sdk'] - totals['ours']:8.3f} "
          f"({totals['sdk'] / totals['ours']:.1f}x)")


if __name__ == "__main__":
    sys.exit(main())
