#!/usr/bin/env python3
"""Run the whole system on this machine: the Firebase Emulator Suite with our function, then the app.

`make run` calls this after `make setup setup-e2e` (Python env, firebase-tools, Java >= 21,
functions/venv). It starts Auth, Firestore, Functions (firebase-tools discovers and runs
functions/main.py itself) and Storage (where its rules runtime can be had) from firebase.json,
with the model store at MODEL_STORE (default: the repository's models/store), then opens the
Kivy app pointed at the emulators. With no display (or --headless) the app runs offscreen through
a scripted conversation: each message and the label it got is printed, and a screenshot saved.

Ctrl-C, or `make stop` (this script with --stop) from another shell, stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mobile_app.messages import MODELS as APP_MODELS  # noqa: E402  (the app's model picker)
from scripts.emulator_suite import (  # noqa: E402
    QUIET_ENV,
    REPO_ROOT,
    STATE_DIR,
    EmulatorSuite,
    _alive,
    _proc_table,
    descendants,
    end_processes,
)

PID_NAME = "run_local.json"  # in --out: what `make stop` reads
DEFAULT_STORE = REPO_ROOT / "models" / "store"
CONVERSATION = [
    "I finally got the job, I can't stop smiling!",
    "My cat has been sick all week and I feel so helpless.",
    "How dare they cancel the concert an hour before it starts.",
    "Walking home alone in the dark, every sound makes me jump.",
]
SECOND_MODEL_LINES = [
    "You are the kindest person I know, thank you for everything.",
    "Wait, you flew across the world just to surprise me?",
]
T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[run {time.monotonic() - T0:5.0f}s] {msg}", flush=True)


def store_models(store: Path) -> list[str]:
    """Model names in a local store (folders with a LATEST pointer), the default first."""
    names = sorted(p.parent.name for p in store.glob("*/LATEST"))
    default = (store / "DEFAULT").read_text().strip().split("@")[0] if (store / "DEFAULT").is_file() else ""
    return sorted(names, key=lambda n: n != default)


def build_demo_store(store: Path) -> None:
    """Two tiny random-weight models (tests/support/tiny_model.py) for when no trained model exists yet."""
    from chat_emotion.store import LocalStore

    from tests.support.tiny_model import build_tiny_artifact

    local = LocalStore(store) if store.is_dir() else None
    if local is None:
        store.mkdir(parents=True)
        local = LocalStore(store)
    with tempfile.TemporaryDirectory() as tmp:
        a = build_tiny_artifact(Path(tmp) / "minilm", name="minilm", version="demo")
        local.publish(a.directory, make_default=True)
        b = build_tiny_artifact(Path(tmp) / "bert", name="bert", version="demo", multi_label=True, seed=1)
        local.publish(b.directory)


def resolve_store(arg: str | None) -> tuple[str, list[str]]:
    """(MODEL_STORE value, models to use in the conversation)."""
    if arg and arg.startswith("gs://"):
        return arg, []
    store = Path(arg).expanduser().resolve() if arg else DEFAULT_STORE
    if not (store / "DEFAULT").is_file():
        if arg:
            sys.exit(f"{store} is not a model store (no DEFAULT pointer)")
        demo = STATE_DIR / "demo-store"
        if not (demo / "DEFAULT").is_file():
            say(f"no trained default model in {DEFAULT_STORE} yet: building two tiny random-weight demo "
                f"models into {demo} (labels are meaningless; `python -m training` makes real ones)")
            build_demo_store(demo)
        store = demo
    return str(store), store_models(store)


def conversation(models: list[str]) -> str:
    lines = ["# make run: a scripted conversation (mobile_app/driver.py format)", "@model default"]
    lines += CONVERSATION
    # The second model: the multi-label GoEmotions one when the store has it (its chip names
    # several emotions), else the next one the app's picker offers.
    others = sorted((m for m in models[1:] if m in APP_MODELS), key=lambda m: m != "goemotions")
    if others:
        lines.append(f"@model {others[0]}")
        lines += SECOND_MODEL_LINES
    return "\n".join(lines) + "\n"


def app_command(suite: EmulatorSuite, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "mobile_app", "--emulator", suite.host("firestore"),
            "--auth-emulator", suite.host("auth"), "--project", suite.project, *extra]


def app_env(headless: bool, out_dir: Path) -> dict[str, str]:
    env = {**os.environ, **QUIET_ENV, "KIVY_NO_ARGS": "1"}
    if headless:
        env.pop("DISPLAY", None)  # Kivy then draws offscreen (Mesa), and screenshots still work
        env.setdefault("KIVY_HOME", str(out_dir / "kivy"))
    return env


def run_headless(suite: EmulatorSuite, models: list[str], out_dir: Path, timeout: float) -> int:
    script = out_dir / "conversation.txt"
    text = conversation(models)
    script.write_text(text)
    expected = sum(1 for line in text.splitlines() if line and not line.startswith(("#", "@")))
    shot = out_dir / "screenshot.png"
    data_dir = out_dir / "app-data"
    # The emulators start empty each time: a session or history kept from an earlier run is stale.
    shutil.rmtree(data_dir, ignore_errors=True)
    cmd = app_command(suite, ["--script", str(script), "--screenshot", str(shot), "--data-dir", str(data_dir),
                              "--timeout", str(timeout), "--size", "480x800"])
    say(f"headless app (offscreen): {' '.join(cmd[1:])}")
    app_log = out_dir / "app.log"
    with open(app_log, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=app_env(True, out_dir), stdout=subprocess.PIPE,
                                stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        _CHILDREN.append(proc)
        # The driver bounds each label's wait; this bounds the whole run (sign-in, a stuck window).
        watchdog = threading.Timer(expected * timeout + 120, proc.terminate)
        watchdog.daemon = True
        watchdog.start()
        ok = fails = 0
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if "screenshot" in rec:
                say(f"screenshot: {rec['screenshot']}")
            elif "error" in rec and "text" not in rec:
                say(f"app: {rec['error']}")
                fails += 1
            else:
                label = rec.get("label") or rec.get("error_code") or rec.get("state")
                extra = f" ({', '.join(rec['labels'])})" if rec.get("labels") else ""
                served = f" by {rec['served_by']}" if rec.get("served_by") else ""
                score = f" {rec['score']:.2f}" if rec.get("score") is not None else ""
                say(f"  [{rec.get('model')}] {rec.get('text')!r} -> {label}{score}{extra}{served}"
                    f" [{rec.get('state')}]")
                ok += rec.get("state") == "completed"
                fails += rec.get("state") not in ("completed",)
        code = proc.wait()
        watchdog.cancel()
    say(f"conversation: {ok} of {expected} messages labelled; app exit {code} (log {app_log})")
    return 0 if code == 0 and fails == 0 and ok == expected else 1


def run_window(suite: EmulatorSuite, out_dir: Path) -> int:
    data_dir = out_dir / "app-data"
    shutil.rmtree(data_dir, ignore_errors=True)  # the emulators start empty: no stale session or history
    cmd = app_command(suite, ["--data-dir", str(data_dir)])
    say(f"opening the app: {' '.join(cmd[1:])} (close the window or Ctrl-C to stop)")
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=app_env(False, out_dir), start_new_session=True)
    _CHILDREN.append(proc)
    return proc.wait()


_CHILDREN: list[subprocess.Popen] = []


def stop_children() -> None:
    for proc in _CHILDREN:
        if proc.poll() is None:
            tree = {proc.pid: _proc_table().get(proc.pid, (0, ""))[1], **descendants(proc.pid)}
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            end_processes(tree, grace_s=2)


def write_pid_file(pid_file: Path, suite: EmulatorSuite | None) -> None:
    table = _proc_table()
    info: dict[str, object] = {"pid": os.getpid(), "start": table[os.getpid()][1]}
    if suite is not None and suite._proc is not None:
        info["firebase"] = {"pid": suite._proc.pid, "start": table.get(suite._proc.pid, (0, ""))[1]}
    if suite is not None and suite._sweeper is not None:
        info["sweeper"] = {"pid": suite._sweeper.pid, "start": table.get(suite._sweeper.pid, (0, ""))[1]}
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps(info))


def stop_other(pid_file: Path) -> int:
    """`make stop`: end a running `make run` (by the pids it recorded), and whatever it left."""
    if not pid_file.is_file():
        print(f"nothing to stop (no {pid_file})")
        return 0
    info = json.loads(pid_file.read_text())
    pid, start = int(info["pid"]), str(info["start"])
    if _alive(pid, start):
        print(f"stopping make run (pid {pid})", flush=True)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.3)
    fb = info.get("firebase")
    if isinstance(fb, dict) and _alive(int(fb["pid"]), str(fb["start"])):
        tree = {int(fb["pid"]): str(fb["start"]), **descendants(int(fb["pid"]))}
        print(f"ending firebase-tools left behind: {sorted(tree)}")
        os.kill(int(fb["pid"]), signal.SIGINT)
        time.sleep(10)
        end_processes(tree)
    sweeper = info.get("sweeper")
    if isinstance(sweeper, dict):
        end_processes({int(sweeper["pid"]): str(sweeper["start"])}, grace_s=5)
    if _alive(pid, start):
        os.kill(pid, signal.SIGKILL)
    # What a run that was killed outright could not remove itself.
    (REPO_ROOT / f".firebase.run-{pid}.json").unlink(missing_ok=True)
    shutil.rmtree(STATE_DIR / f"run-{pid}", ignore_errors=True)
    pid_file.unlink(missing_ok=True)
    print("stopped")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_local.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  make run\n  python scripts/run_local.py --headless --free-ports\n"
               "  python scripts/run_local.py --emulators-only       # serve until Ctrl-C\n"
               "  python scripts/run_local.py --stop                 # what `make stop` runs")
    p.add_argument("--stop", action="store_true",
                   help="stop a running `make run` (the one writing to --out) and exit")
    p.add_argument("--headless", action="store_true",
                   help="scripted conversation offscreen, even with a display (the default without $DISPLAY)")
    p.add_argument("--emulators-only", action="store_true",
                   help="start the emulators and the function, no app; serve until Ctrl-C")
    p.add_argument("--keep", action="store_true",
                   help="headless: keep the emulators running after the conversation")
    p.add_argument("--model-store", metavar="PATH|gs://B/P",
                   help="MODEL_STORE for the function (default: models/store; tiny demo models if empty)")
    p.add_argument("--project", default="demo-emotion", help="emulator project id (default: demo-emotion)")
    p.add_argument("--free-ports", action="store_true",
                   help="free ports instead of firebase.json's fixed ones (the app is told which)")
    p.add_argument("--out", type=Path, default=STATE_DIR / "run",
                   help="where the logs, the conversation and the screenshot go (default: .firebase/run)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for each label (default 120)")
    p.add_argument("--verbose", "-v", action="store_true", help="echo firebase-tools' output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out_dir: Path = args.out.resolve()
    pid_file = out_dir / PID_NAME
    if args.stop:
        return stop_other(pid_file)
    os.environ.update(QUIET_ENV)
    if pid_file.is_file():
        info = json.loads(pid_file.read_text())
        if _alive(int(info["pid"]), str(info["start"])):
            sys.exit(f"`make run` is already running (pid {info['pid']}): `make stop` first")
    headless = args.headless or not os.environ.get("DISPLAY")
    out_dir.mkdir(parents=True, exist_ok=True)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    write_pid_file(pid_file, None)
    suite: EmulatorSuite | None = None
    code = 1
    serving = False  # True once only Ctrl-C / `make stop` is awaited: stopping then is the normal end
    try:
        model_store, models = resolve_store(args.model_store)
        say(f"model store: {model_store} (models: {', '.join(models) or '?'})")
        suite = EmulatorSuite(project=args.project, ports="free" if args.free_ports else "repo",
                              params={"MODEL_STORE": model_store}, tag=f"run-{os.getpid()}",
                              log_path=out_dir / "emulators.log", echo=args.verbose, progress=say)
        for log in ("emulators.log", "sweeper.log"):  # the previous run's logs are kept once
            if (out_dir / log).is_file():
                (out_dir / log).replace(out_dir / f"{log}.previous")
        suite.start()
        write_pid_file(pid_file, suite)
        if not suite.function_loaded():
            suite.wait_for_line("classify_message]: firestore function initialized", timeout=60)
        say("function classify_message loaded by firebase-tools; emulators: "
            + ", ".join(f"{e} {suite.host(e)}" for e in suite.only))
        if args.emulators_only:
            say("serving; Ctrl-C (or `make stop`) to stop")
            code, serving = 0, True
            while suite._proc is not None and suite._proc.poll() is None:
                time.sleep(1)
            code = 1  # firebase-tools ended by itself
        elif headless:
            code = run_headless(suite, models, out_dir, args.timeout)
            if args.keep:
                say("keeping the emulators up; Ctrl-C (or `make stop`) to stop")
                serving = True
                while suite._proc is not None and suite._proc.poll() is None:
                    time.sleep(1)
        else:
            code, serving = 0, True  # closing the window, Ctrl-C or `make stop` all end a normal run
            code = run_window(suite, out_dir)
    except KeyboardInterrupt as why:
        say(f"interrupted ({str(why) or 'Ctrl-C'}): stopping")
        code = code if serving else 130
    except RuntimeError as err:
        say(f"failed: {err}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_children()
        if suite is not None:
            suite.stop()
            left = suite.leftovers()
            say("stopped; no process left behind" if not left else f"still alive: {left}")
        pid_file.unlink(missing_ok=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
