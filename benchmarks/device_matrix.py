"""Where should the label come from? The model × device × network matrix (issue 13, docs/APP.md).

Device side, for each model of the store and each engine (`--engines`: ONNX Runtime, and the numpy
engine Android and 32-bit Pis get): a fresh process loads the artifact with the app's own labeller
path (mobile_app/ondevice.py pick_engine, one thread) and labels
`--messages` texts one at a time: time to label (p50/p95), CPU-seconds per message (the battery
proxy: process CPU time, one thread), peak memory of the whole process (ru_maxrss) and what loading
the model added to it, the artifact's size, and its val accuracy / macro-F1 from its manifest.
Device profiles scale this machine's single-thread time by a factor (`--profiles`): a SIMULATION,
not a measurement on those devices. The defaults come from single-core scores (Geekbench 5, about
1100 for this EPYC core, 750 for a Cortex-A76 phone core, 270 for a Raspberry Pi 4, 110 for a Pi 3);
int8 kernels on an in-order Cortex-A53 may be slower still.

Cloud side: firebase-tools' emulators with the real function (the store's default model) and the
app's own client (auth, Firestore REST, the sync engine with its poll schedule), the Firestore
link through scripts/net_proxy.py with `--rtt-ms` round trips and `--loss` (loss shows up as one
200 ms retransmission timeout per lost chunk): tap → result in the app's store (p50/p95), billed
reads per message, and the app's CPU-seconds per message (its sync thread, the send on the caller's
thread). The proxy runs on loopback: no bandwidth limit and no radio wake-up cost are modelled.

Last, the rule `auto` follows (mobile_app/ondevice.py, auto_shows_device_label) applied to each
cell: the device label shows first where the device is faster than the cloud's tap → label.

    python benchmarks/device_matrix.py --messages 200 --cloud-messages 10
    python benchmarks/device_matrix.py --no-cloud --models distilbert minilm-l2   # device side only
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from common import REPO_ROOT, artifact, child_env, make_parser, percentile

sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "functions"))

SHARED_VAL = REPO_ROOT.parent / "shared" / "data" / "emotion" / "val.txt"
DEFAULT_MODELS = ("bert", "distilbert", "roberta", "electra", "mobilebert", "minilm-l2", "minilm")
DEFAULT_PROFILES = "this-core=1,phone-core=1.5,pi4=4,pi3=10"
DEFAULT_NETWORKS = "20:0,80:0,80:0.02,300:0,300:0.05"
ENGINE_DISTRIBUTIONS = {"onnxruntime": ("onnxruntime", "tokenizers", "numpy"), "numpy": ("numpy",)}
"""What each on-device engine needs installed (mobile_app/ondevice.py pick_engine)."""
TEXTS = [
    "i am thrilled, we won the final",
    "i feel so lonely since you left",
    "that was a horrible thing to say",
    "wow i did not expect that at all",
    "i am scared of the exam tomorrow",
    "i love this song so much",
    "nothing ever works out for me",
    "what a lovely surprise",
    "leave me alone, i am furious",
    "i feel a little nervous about moving to a new city but mostly excited",
]


# --- the device side ------------------------------------------------------------------------------


def device_child(folder: Path, messages: int, agreement: Path | None, engine: str) -> dict:
    """Runs in its own process: load and label as the app does, with `engine`; print one JSON line
    (with the labels of `agreement`'s texts, when given, for the parent to compare with the cloud's)."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import mobile_app  # noqa: F401  (one BLAS thread, as in the app)
    from mobile_app.ondevice import pick_engine

    _, load = pick_engine(engine)  # imports the engine's modules: the runtime's memory
    rss_imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    classifier = load(folder, threads=1)
    load_s = time.perf_counter() - started
    for text in TEXTS[:3]:  # the labeller's warm-up (DeviceLabeller._warm)
        classifier.predict([text], batch_size=1)
    walls, cpus = [], []
    for i in range(messages):
        text = TEXTS[i % len(TEXTS)]
        wall, cpu = time.perf_counter(), time.process_time()
        classifier.predict([text], batch_size=1)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "load_s": load_s,
        "p50_ms": 1000 * statistics.median(walls),
        "p95_ms": 1000 * percentile(walls, 0.95),
        "cpu_ms": 1000 * statistics.mean(cpus),
        "peak_mb": peak / 1024,
        "model_mb": (peak - rss_imported) / 1024,
        "runtime_mb": (rss_imported - rss_before) / 1024,
        "labels": [p.label for p in classifier.predict(agreement_texts(agreement))] if agreement else [],
    }


def agreement_texts(path: Path) -> list[str]:
    """The texts of a `text;label` file (the emotion data's layout)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.rpartition(";")[0] or line for line in lines if line.strip()]


def measure_device(store: Path, name: str, messages: int, agreement: Path | None, engine: str) -> dict:
    folder, manifest = artifact(store, name)
    extra = ["--agreement", str(agreement)] if agreement else []
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(folder), "--messages", str(messages), "--engines", engine,
         *extra],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name}: the device run failed\n{proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row.update(
        name=name,
        engine=engine,
        ref=manifest.ref,
        accuracy=manifest.evaluation.get("accuracy"),
        macro_f1=manifest.evaluation.get("macro_f1"),
        artifact_mb=sum(
            (folder / f).stat().st_size for f in ("model.onnx", "tokenizer.json", "manifest.json")
        )
        / 1e6,
    )
    return row


def install_closure_mb(roots: tuple[str, ...]) -> float:
    """MB on disk of what `pip install` brings for `roots` (their installed requirement closure)."""
    from packaging.requirements import Requirement

    seen: dict[str, int] = {}
    todo = list(roots)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = sum(f.locate().stat().st_size for f in dist.files or [] if f.locate().is_file())
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sum(seen.values()) / 1e6


# --- the cloud side -------------------------------------------------------------------------------


def measure_cloud(
    store: Path, networks: list[tuple[float, float]], messages: int, timeout: float
) -> list[dict]:
    import psutil
    from tap_to_chip import make_side, tap

    from mobile_app.sync import PollSchedule
    from scripts.emulator_suite import EmulatorSuite, why_no_suite
    from scripts.net_proxy import NetProxy

    reason = why_no_suite()
    if reason:
        raise SystemExit(f"the cloud side needs the Emulator Suite ({reason}); --no-cloud skips it")
    suite = EmulatorSuite(
        project="demo-matrix",
        ports="free",
        only=("auth", "firestore", "functions"),
        params={"MODEL_STORE": str(store.resolve())},
        sweep_every_s=None,
    )
    rows = []
    me = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp, suite:
        if not suite.function_loaded():
            suite.wait_for_line("classify_message]: firestore function initialized", timeout=60)
        warm = make_side("warm", suite, Path(tmp), PollSchedule())
        try:
            tap(warm, "a first message wakes the function up", 120)  # the cold start, not measured
        finally:
            warm.engine.stop()
        for index, (rtt_ms, loss) in enumerate(networks):
            with NetProxy(
                suite.firestore_url.removeprefix("http://"), rtt_ms=rtt_ms, loss=loss, seed=index
            ) as link:
                side = make_side(f"net{index}", suite, Path(tmp), PollSchedule(), f"http://{link.address}")
                try:
                    taps, reads, cpu = cloud_taps(side, me, messages, timeout)
                finally:
                    side.engine.stop()
            rows.append(
                {
                    "rtt_ms": rtt_ms,
                    "loss": loss,
                    "p50_ms": 1000 * statistics.median(taps),
                    "p95_ms": 1000 * percentile(taps, 0.95),
                    "reads": reads / messages,
                    "cpu_ms": 1000 * cpu / messages,
                }
            )
            print(f"  cloud +{rtt_ms:g} ms, loss {loss:g}: p50 {rows[-1]['p50_ms']:.0f} ms", file=sys.stderr)
    return rows


def cloud_taps(side, process, messages: int, timeout: float) -> tuple[list[float], int, float]:
    """Tap → COMPLETED in the store for `messages` warm messages (after one that warms the link)."""
    engine = side.engine
    taps, reads, cpu = [], 0, 0.0
    for i in range(messages + 1):
        side.event.clear()
        before_reads, before_cpu = engine.reads, _thread_cpu(process, engine)
        started, caller_cpu = time.monotonic(), time.thread_time()
        msg = engine.send(TEXTS[i % len(TEXTS)], "default")
        caller_cpu = time.thread_time() - caller_cpu
        while msg.id not in side.done:
            if not side.event.wait(timeout=max(0.0, started + timeout - time.monotonic())):
                raise SystemExit(f"{side.name}: no label for {msg.text!r} after {timeout:.0f} s")
            side.event.clear()
        time.sleep(0.05)  # the sync thread finishes its round before its CPU time is read
        if i:
            taps.append(side.done[msg.id] - started)
            reads += engine.reads - before_reads
            cpu += _thread_cpu(process, engine) - before_cpu + caller_cpu
    return taps, reads, cpu


def _thread_cpu(process, engine) -> float:
    native = engine._thread.native_id if engine._thread else None
    return next((t.user_time + t.system_time for t in process.threads() if t.id == native), 0.0)


# --- the report -----------------------------------------------------------------------------------


def parse_pairs(text: str, kind) -> list[tuple]:
    out = []
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=" if "=" in part else ":")
        out.append((kind(key), float(value)))
    return out


def report(
    device: list[dict],
    profiles: list[tuple[str, float]],
    cloud: list[dict],
    runtime_mb: dict[str, float],
    cloud_ref: str,
) -> str:
    from mobile_app.ondevice import INSTANT_MS, auto_shows_device_label

    lines = [
        "### The device side (1 thread, this machine × the profile's factor: a simulation)",
        "",
        "| model | engine | val acc | macro-F1 | same label as the cloud's | artifact MB | load s "
        "| peak RSS MB (+model) | CPU ms/msg | " + " | ".join(f"{p} p50 ms" for p, _ in profiles) + " |",
        "|---" * (9 + len(profiles)) + "|",
    ]
    for r in device:
        lines.append(
            f"| {r['ref']} | {r['engine']} | {r['accuracy']:.4f} | {r['macro_f1']:.3f} | "
            f"{_share(r.get('agreement'))} | "
            f"{r['artifact_mb']:.1f} | "
            f"{r['load_s']:.2f} | {r['peak_mb']:.0f} (+{r['model_mb']:.0f}) | {r['cpu_ms']:.2f} | "
            + " | ".join(f"{r['p50_ms'] * f:.1f}" for _, f in profiles)
            + " |"
        )
    lines += [""] + [
        f"Install on the device for labels there with {engine}: {mb:.0f} MB "
        f"({', '.join(ENGINE_DISTRIBUTIONS[engine])} and what they require) + the artifact; cloud mode: 0."
        for engine, mb in runtime_mb.items()
    ]
    if cloud:
        lines += [
            "",
            f"### The cloud side ({cloud_ref} in the function, emulators, the link through net_proxy)",
            "",
            "| added RTT | loss | tap → label p50 ms | p95 ms | reads/msg | app CPU ms/msg |",
            "|---|---|---|---|---|---|",
        ]
        for c in cloud:
            lines.append(
                f"| {c['rtt_ms']:g} ms | {c['loss']:g} | {c['p50_ms']:.0f} | {c['p95_ms']:.0f} | "
                f"{c['reads']:.2f} | {c['cpu_ms']:.2f} |"
            )
        cloud_first = [
            f"{r['name']} ({r['engine']}) @ {profile} on +{c['rtt_ms']:g} ms/{c['loss']:g}"
            for r in device
            for profile, factor in profiles
            for c in cloud
            if not auto_shows_device_label(r["p50_ms"] * factor, c["p50_ms"], True)
        ]
        cells = len(device) * len(profiles) * len(cloud)
        lines += [
            "",
            "`auto` (mobile_app/ondevice.py: the device's label first when the device is sooner than the "
            f"cloud's p50 and that is over {INSTANT_MS:g} ms) shows the device's label first in "
            f"{cells - len(cloud_first)} of {cells} cells (model × profile × link)"
            + (f"; the cloud's in: {', '.join(cloud_first)}" if cloud_first else "")
            + ".",
        ]
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def plot(
    device: list[dict],
    profiles: list[tuple[str, float]],
    cloud: list[dict],
    cloud_accuracy: float | None,
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    markers = "osD^v<>"
    for (profile, factor), marker in zip(profiles, markers, strict=False):
        ax.scatter(
            [r["p50_ms"] * factor for r in device],
            [r["accuracy"] for r in device],
            marker=marker,
            label=f"device: {profile} (×{factor:g})",
        )
    for r in device:
        ax.annotate(
            f"{r['name']} ({r['engine']})",
            (r["p50_ms"], r["accuracy"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    if cloud and cloud_accuracy is not None:
        xs = [c["p50_ms"] for c in cloud]
        ax.scatter(
            xs, [cloud_accuracy] * len(xs), marker="*", s=120, color="black", label="cloud (default model)"
        )
        for index, c in enumerate(cloud):
            ax.annotate(
                f"+{c['rtt_ms']:g} ms/{c['loss']:g}",
                (c["p50_ms"], cloud_accuracy),
                fontsize=7,
                xytext=(0, -12 if index % 2 == 0 else 8),
                textcoords="offset points",
                ha="center",
            )
    ax.set_xscale("log")
    ax.set_xlabel("time to label, p50 (ms, log)")
    ax.set_ylabel("val accuracy (emotion, int8)")
    ax.set_title("On the device or in the cloud: time to label vs accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = make_parser(__file__, __doc__)
    parser.add_argument(
        "--store",
        type=Path,
        default=REPO_ROOT / "models" / "store",
        help="model store folder (default: the repository's models/store)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        help=f"store names for the device side (default: {' '.join(DEFAULT_MODELS)})",
    )
    parser.add_argument(
        "--messages", type=int, default=200, help="labels per model on the device (default 200)"
    )
    parser.add_argument(
        "--profiles",
        default=DEFAULT_PROFILES,
        help=f"NAME=FACTOR,...: device profiles as slow-downs of this core (default {DEFAULT_PROFILES})",
    )
    parser.add_argument(
        "--networks",
        default=DEFAULT_NETWORKS,
        help=f"RTT_MS:LOSS,...: the cloud path's links (default {DEFAULT_NETWORKS})",
    )
    parser.add_argument("--cloud-messages", type=int, default=10, help="warm messages per link (default 10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one cloud label")
    parser.add_argument("--no-cloud", action="store_true", help="the device side only (no emulators needed)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--plot", type=Path, help="draw time to label vs accuracy into this PNG")
    parser.add_argument(
        "--agreement",
        type=Path,
        default=SHARED_VAL if SHARED_VAL.is_file() else None,
        help="text;label file: how often each device model gives the cloud default's label "
        f"(default {SHARED_VAL} when present; without it the column is empty)",
    )
    parser.add_argument(
        "--engines",
        default="onnxruntime,numpy",
        help="comma-separated on-device engines to measure side by side: onnxruntime, numpy "
        "(default %(default)s)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(device_child(args.child, args.messages, args.agreement, args.engines)))
        return
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or set(engines) - set(ENGINE_DISTRIBUTIONS):
        parser.error(f"--engines: choose from {', '.join(ENGINE_DISTRIBUTIONS)}")
    profiles = parse_pairs(args.profiles, str)
    networks = parse_pairs(args.networks, float)
    _, default_manifest = artifact(args.store, "default")
    default_model = default_manifest.name
    device = []
    for name in args.models:
        for engine in engines:
            device.append(measure_device(args.store, name, args.messages, args.agreement, engine))
            print(f"  device {name} ({engine}): p50 {device[-1]['p50_ms']:.2f} ms", file=sys.stderr)
    if args.agreement:  # the cloud's labels: its model through its runtime
        cloud_labels = next(
            (r["labels"] for r in device if r["name"] == default_model and r["engine"] == "onnxruntime"), None
        )
        if cloud_labels is None:
            cloud_run = measure_device(args.store, default_model, 1, args.agreement, "onnxruntime")
            cloud_labels = cloud_run["labels"]
        for r in device:
            labels = r.pop("labels")
            r["agreement"] = sum(a == b for a, b in zip(labels, cloud_labels, strict=True)) / len(labels)
    runtime_mb = {engine: install_closure_mb(ENGINE_DISTRIBUTIONS[engine]) for engine in engines}
    cloud = [] if args.no_cloud else measure_cloud(args.store, networks, args.cloud_messages, args.timeout)
    cloud_ref = default_manifest.ref
    print(report(device, profiles, cloud, runtime_mb, cloud_ref))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "device": device,
                    "profiles": profiles,
                    "cloud": cloud,
                    "runtime_mb": runtime_mb,
                    "cloud_model": cloud_ref,
                },
                indent=1,
            )
            + "\n"
        )
    if args.plot:
        plot(device, profiles, cloud, default_manifest.evaluation.get("accuracy"), args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
