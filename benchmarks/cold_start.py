"""Cold start: a new process -> its first message classified, ONNX function vs the naive baseline.

Two ways, each side by side with the baseline (the same handler with `transformers.pipeline` on
the torch checkpoint, loaded on the first call) and a ratio:

  in-process  a fresh Python process imports the function's code (chat_emotion.handler), then
              handler.process() runs the first event: claim, validate, resolve, fetch + sha256,
              load, classify, write back, against the unit tier's in-memory repository. Phases:
              start (interpreter up), imports, first message. This is the code this repository
              controls; functions-framework and the Firebase SDK are the platform's (see below).
  emulator    (--emulator) the official Firestore emulator delivers the trigger to a freshly
              spawned functions-framework server: spawn -> listening, then document created (REST
              commit) -> label written (polled), i.e. the whole cold instance as a user sees it.

    python benchmarks/cold_start.py --store models/store --hf-checkpoint runs/minilm --repeats 5
    python benchmarks/cold_start.py --store models/store --hf-checkpoint runs/minilm --emulator --repeats 3

Prints the median of --repeats fresh processes per side and the load average at the start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from common import (
    PROJECT,
    add_model_arguments,
    child_command,
    child_env,
    child_service,
    compile_function_source,
    load_line,
    make_parser,
    run_child,
)

TEXT = "i feel a little nervous about tomorrow but mostly excited"


def child(args: argparse.Namespace) -> None:
    """One fresh process: import, first message, report phase times (time.time() since spawn)."""
    spawned = float(args.spawned_at)
    started = time.time()
    service, repository = child_service(args)
    from chat_emotion import handler

    imported = time.time()
    path = "users/bench/messages/m0"
    repository.create(path, {"text": TEXT, "model": "default"})
    outcome = handler.process(service, handler.MessageEvent(document=path, event_id="e0", project=PROJECT))
    done = time.time()
    if outcome.state != "COMPLETED":
        raise SystemExit(f"first message not classified: {outcome}")
    print(
        json.dumps(
            {
                "start_s": started - spawned,
                "imports_s": imported - started,
                "first_message_s": done - imported,
                "cold_s": done - spawned,
                "label": outcome.emotion["label"] if outcome.emotion else None,
            }
        )
    )


def in_process(side: str, args: argparse.Namespace) -> dict[str, float]:
    command = child_command(__file__, side, args)
    env = child_env()
    return run_child(command + ["--spawned-at", repr(time.time())], f"{side} run", env)


def through_emulator(side: str, args: argparse.Namespace, emulator: Any, index: int) -> dict[str, float]:
    from local_stack import MAIN_SOURCE, NAIVE_SOURCE, FunctionServer

    from tests.support.firestore_rest import commit_create, get_document

    source = MAIN_SOURCE if side == "onnx" else NAIVE_SOURCE
    server = FunctionServer(
        source,
        project=emulator.project,
        firestore_host=emulator.host,
        store=args.store,
        model=args.model,
        hf_checkpoint=args.hf_checkpoint,
        port=args.function_port,
        cpus=args.function_cpus,
    )
    path = f"users/bench/messages/{side}-{index}-{time.time_ns()}"
    with server:
        listening = server.wait_listening()
        created = time.time()
        status, body = commit_create(
            emulator, path, {"text": TEXT, "model": "default"}, emulator.admin_headers
        )
        if status != 200:
            raise SystemExit(f"could not create {path}: {status} {body}")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            _, doc = get_document(emulator, path)
            state = (doc or {}).get("status", {}).get("state")
            if state in ("COMPLETED", "ERROR"):
                break
            time.sleep(0.01)
        else:
            raise SystemExit(f"{side}: {path} not classified in 180 s; see {server.log_path}")
        labelled = time.time()
        if state != "COMPLETED":
            raise SystemExit(f"{side}: {path} ended {doc}; see {server.log_path}")
    return {
        "listening_s": listening - server.spawned_at,
        "created_to_label_s": labelled - created,
        "cold_s": labelled - server.spawned_at,
    }


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__file__, __doc__)
    add_model_arguments(
        parser,
        model_help="DEFAULT_MODEL: 'store' follows <store>/DEFAULT, or NAME[@VERSION]",
        hf_help="torch checkpoint of the same model for the baseline (without it: ONNX only)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per side (median shown)")
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="measure through the Firestore emulator's trigger delivery instead",
    )
    parser.add_argument(
        "--function-cpus",
        type=lambda text: {int(c) for c in text.split(",")},
        metavar="LIST",
        help="with --emulator: pin the function server to these cores, e.g. 0 (one core, as the cloud's "
        "CPU=1; the emulator and this script keep every core)",
    )
    parser.add_argument("--function-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["onnx", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--spawned-at", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.store = args.store.resolve()
    if args.child:
        child(args)
        return
    sides = ["onnx"] + (["pipeline"] if args.hf_checkpoint else [])
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    if args.emulator:
        from local_stack import FirestoreEmulator, free_port, why_no_firestore_emulator

        reason = why_no_firestore_emulator()
        if reason:
            raise SystemExit(f"--emulator needs the Firestore emulator: {reason}")
        args.function_port = free_port()
        with FirestoreEmulator(
            project=PROJECT, rules=None, functions_emulator=f"127.0.0.1:{args.function_port}"
        ) as emulator:
            emulator.register_trigger("classify_message", "users/{uid}/messages/{messageId}")
            for i in range(args.repeats):  # interleaved, so both sides see the same background load
                for side in sides:
                    runs[side].append(through_emulator(side, args, emulator, i))
    else:
        compile_function_source()  # the cloud's build step; FunctionServer does it for --emulator
        for _ in range(args.repeats):
            for side in sides:
                runs[side].append(in_process(side, args))
    medians = {
        side: {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "label"}
        for side, rs in runs.items()
    }
    print(
        f"cold start ({'emulator: document created -> label written' if args.emulator else 'in-process'}), "
        f"median of {args.repeats}; {load_line(load_before)}; "
        f"store={args.store} model={args.model}"
    )
    keys = list(next(iter(medians.values())))
    print(f"{'side':10}" + "".join(f"{k:>20}" for k in keys))
    for side, m in medians.items():
        print(f"{side:10}" + "".join(f"{m[k]:20.3f}" for k in keys))
    if "pipeline" in medians:
        o, p = medians["onnx"], medians["pipeline"]
        print("ratio pipeline/onnx: " + ", ".join(f"{k} {p[k] / o[k]:.1f}x" for k in keys if o[k] > 0))
    print(json.dumps({"medians": medians, "runs": runs, "load": [load_before, os.getloadavg()[0]]}))


if __name__ == "__main__":
    main()
