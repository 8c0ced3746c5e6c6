"""Run benchmarks/locustfile.py headless against a local function + Firestore emulator, per user count.

Starts the official Firestore emulator and one function server (functions-framework serving
functions/main.py on 127.0.0.1, MODEL_STORE from --store), warms it with one message, then runs
`locust --headless` for each --users value for --duration, and prints requests/s, percentiles and
failures of the function's endpoint (plus the server's peak RSS). With --hf-checkpoint the same
runs are repeated against the naive baseline (benchmarks/naive_main.py).

    python benchmarks/locust_run.py --store models/store --users 1,16,64 --duration 30s \\
        [--hf-checkpoint runs/minilm]

One server stands for one instance with no concurrency cap: in the cloud CONCURRENCY=16 would
spread 64 users over about four instances.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import PROJECT, REPO_ROOT, add_store_argument, load_line, make_parser  # noqa: E402
from local_stack import (  # noqa: E402
    MAIN_SOURCE,
    NAIVE_SOURCE,
    FirestoreEmulator,
    FunctionServer,
    why_no_firestore_emulator,
)

ENDPOINT = "classify (function)"


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the server and its children (the adapter runs in the spawned process itself)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def warm_up(server: FunctionServer, emulator: FirestoreEmulator) -> None:
    """One message end to end, so the model is loaded before the clock starts."""
    from tests.support.cloudevents import created_event
    from tests.support.firestore_rest import commit_create

    path = "users/warmup/messages/m0"
    fields = {"text": "warming up", "model": "default"}
    commit_create(emulator, path, fields, emulator.admin_headers, server_time=None)
    headers, body = created_event(path, fields, project=PROJECT)
    request = urllib.request.Request(server.url + "/", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=300) as response:
        if response.status != 200:
            raise SystemExit(f"warm-up failed: HTTP {response.status}")


def run_locust(
    host: str, emulator: FirestoreEmulator, users: int, duration: str, out: Path
) -> dict[str, float]:
    prefix = out / f"u{users}"
    env = {**os.environ, "FIRESTORE_HOST": emulator.host, "FIRESTORE_PROJECT": PROJECT}
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        duration,
        "--host",
        host,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    subprocess.run(command, env=env, cwd=REPO_ROOT, check=False, capture_output=True)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    row = rows[ENDPOINT]
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p95": float(row["95%"]),
        "p99": float(row["99%"]),
        "max": float(row["Max Response Time"]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__file__, __doc__)
    add_store_argument(parser)
    parser.add_argument("--users", default="1,16,64", help="comma-separated user counts (default 1,16,64)")
    parser.add_argument("--duration", default="30s", help="run time per user count (default 30s)")
    parser.add_argument("--hf-checkpoint", type=Path, help="also run the transformers.pipeline baseline")
    args = parser.parse_args(argv)
    reason = why_no_firestore_emulator()
    if reason:
        raise SystemExit(f"needs the Firestore emulator: {reason}")
    users = [int(u) for u in args.users.split(",")]
    sides = [("onnx", MAIN_SOURCE)] + ([("pipeline", NAIVE_SOURCE)] if args.hf_checkpoint else [])
    results: list[tuple[str, int, dict[str, float], float]] = []
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="locust-") as tmp,
        FirestoreEmulator(project=PROJECT, rules=None) as emulator,
    ):
        for side, source in sides:
            server = FunctionServer(
                source,
                project=PROJECT,
                firestore_host=emulator.host,
                store=args.store.resolve(),
                hf_checkpoint=args.hf_checkpoint,
                log_path=Path(tmp) / f"{side}.log",
            )
            with server:
                server.wait_listening()
                warm_up(server, emulator)
                for n in users:
                    stats = run_locust(server.url, emulator, n, args.duration, Path(tmp))
                    results.append((side, n, stats, peak_rss_mb(server.pid or 0)))
                    time.sleep(1)
    print(
        f"locust: {args.duration} per run, endpoint '{ENDPOINT}' (claim + classify + write-back on the "
        f"emulator); {load_line(load_before)}"
    )
    print(
        f"{'side':9} {'users':>5} {'requests':>8} {'fail':>5} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'server peak RSS MiB':>20}"
    )
    for side, n, s, rss in results:
        print(
            f"{side:9} {n:5d} {s['requests']:8.0f} {s['failures']:5.0f} {s['rps']:7.1f} {s['p50']:7.0f} "
            f"{s['p95']:7.0f} {s['p99']:7.0f} {s['max']:7.0f} {rss:20.0f}"
        )


if __name__ == "__main__":
    main()
