"""Start-up time to first frame and resident memory of the chat app (python -m mobile_app).

    .venv/bin/python benchmarks/app_startup.py [--runs 5] [--history 200] [--size 480x800]

Each run is a fresh process (as a person starting the app): it opens the chat screen with a
history of --history messages already on the device, and reports the wall time from process
spawn to the first frame drawn (interpreter, imports, window, kv, history), RSS at that frame and
2 s later, and the peak. The backend is an emulator address where nothing listens, so network
waits cannot enter the figures (the outbox just retries in the background).
Prints one JSON line per run and a summary line (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_mb() -> dict[str, float]:
    """Resident memory of this process in MB (Linux /proc): VmRSS (all), VmHWM (peak), RssAnon
    (the app's own heap, textures included) and RssFile (mapped libraries: with no GPU here,
    Mesa's llvmpipe maps all of LLVM, which a Pi's or a phone's GPU driver does not)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def child(data_dir: Path, size: str, spawned_at: float) -> None:
    os.environ.update(KIVY_NO_ARGS="1", KIVY_LOG_MODE="PYTHON")
    from kivy.config import Config

    width, height = size.split("x")
    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    from kivy.clock import Clock
    from kivy.core.window import Window

    from mobile_app.app import EmotionChatApp

    app = EmotionChatApp(data_dir=data_dir, overrides={"backend": "emulator", "emulator_host": "127.0.0.1:9",
                                                       "unsigned_uid": "bench"})
    result: dict[str, float] = {}

    def first_flip(*_: object) -> None:
        if app.root is None or app.root.current != "chat" or "first_frame_s" in result:
            return
        result["first_frame_s"] = time.time() - spawned_at
        result["bubbles"] = len(app.bubbles)
        result.update({f"{k}_at_first_frame_mb": v for k, v in rss_mb().items() if k != "VmHWM"})
        Clock.schedule_once(settled, 2.0)

    def settled(dt: float) -> None:
        mem = rss_mb()
        result["VmRSS_after_2s_mb"] = mem["VmRSS"]
        result["RssAnon_after_2s_mb"] = mem["RssAnon"]
        result["VmHWM_peak_mb"] = mem["VmHWM"]
        print(json.dumps({k: round(v, 3) for k, v in result.items()}), flush=True)
        app.stop()

    Window.bind(on_flip=first_flip)
    app.run()


def seed_history(data_dir: Path, count: int) -> None:
    from mobile_app.messages import Message
    from mobile_app.store import MessageStore

    store = MessageStore.for_user(data_dir / "emulator-demo-emotion", "bench")
    messages = []
    for i in range(count):
        msg = Message.compose(f"Message {i}: today was a long day, but a good one in the end.", "default")
        msg.created_local = 1_700_000_000 + i
        label = ["joy", "sadness", "anger"][i % 3]
        msg.apply_server({"status": {"state": "COMPLETED"},
                          "emotion": {"label": label, "score": 0.9, "model": "minilm"}})
        messages.append(msg)
    store.put_many(messages)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--history", type=int, default=200, help="messages already on the device")
    p.add_argument("--size", default="480x800")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--spawned-at", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.size, args.spawned_at)
        return 0
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "device"
        seed_history(data_dir, args.history)
        env = {**os.environ, "KIVY_HOME": str(Path(tmp) / "kivy")}
        for _ in range(args.runs):
            spawned = time.time()
            out = subprocess.run([sys.executable, __file__, "--child", str(data_dir), "--size", args.size,
                                  "--spawned-at", repr(spawned)], env=env, capture_output=True, text=True,
                                 timeout=120, cwd=REPO)
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if out.returncode != 0 or not lines:
                print(out.stderr[-2000:], file=sys.stderr)
                return 1
            print(lines[-1])
            runs.append(json.loads(lines[-1]))
    keys = ("first_frame_s", "VmRSS_at_first_frame_mb", "RssAnon_at_first_frame_mb",
            "RssFile_at_first_frame_mb", "VmRSS_after_2s_mb", "RssAnon_after_2s_mb", "VmHWM_peak_mb")
    summary = {"runs": len(runs), "history": args.history, "size": args.size,
               **{f"median_{k}": round(statistics.median(r[k] for r in runs), 3) for k in keys}}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
