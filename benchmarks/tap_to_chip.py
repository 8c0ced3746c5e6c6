"""Tap Send → the label in the app, the way a person meets it, through the Firebase Emulator Suite.

Starts firebase-tools' emulators (Auth, Firestore, Functions with the real classify_message) on
free ports and drives the app's own client code: anonymous sign-in (mobile_app.auth), Firestore
REST (mobile_app.firestore_rest) and the sync engine (mobile_app.sync) with its outbox. A "tap" is
`SyncEngine.send` (the message enters the outbox); it ends when the engine's store holds the
COMPLETED result (the chip is drawn on the next frame, ≤ 1/60 s later). Beside it, for the same
messages: created → written on the server's clocks (`status.completeTime - createdAt`) and the
Firestore reads the polls cost (each document asked for by a batchGet is a billed read).

Two schedules run side by side, their messages interleaved, each with its own signed-in user:
  adaptive  PollSchedule (mobile_app/sync.py): the first look when the function usually answers,
            quick looks while a message is PROCESSING
  fixed     the schedule before it: first look 0.7 s after the send, then ×1.5

The first message is sent right after the suite is up, so it meets a cold function (firebase-tools
spawns the Python worker on the first event): reported apart from the warm ones.

    python benchmarks/tap_to_chip.py --messages 15
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import REPO_ROOT, make_parser, percentile

sys.path.insert(0, str(REPO_ROOT))

from mobile_app.auth import FirebaseAuth  # noqa: E402
from mobile_app.config import EMULATOR_API_KEY  # noqa: E402
from mobile_app.firestore_rest import FirestoreClient  # noqa: E402
from mobile_app.messages import State  # noqa: E402
from mobile_app.store import MessageStore  # noqa: E402
from mobile_app.sync import Backoff, PollSchedule, SyncEngine, function_latency  # noqa: E402
from scripts.emulator_suite import EmulatorSuite, why_no_suite  # noqa: E402

TEXTS = [
    "I got the job, I'm so happy!", "This is terrible, I'm furious.", "I miss you so much.",
    "Wow, I did not expect that at all!", "I'm scared of the exam tomorrow.", "I love this song.",
    "Nothing ever works out for me.", "What a lovely surprise!", "Leave me alone, I'm angry.",
]


class FixedSchedule(PollSchedule):
    """The schedule before PollSchedule: a fixed backoff that learns nothing."""

    def observe(self, latency_s: float) -> None:
        pass

    def after_miss(self, misses: int, processing: bool) -> float:
        return self.backoff.delay(misses)


@dataclass
class Side:
    name: str
    engine: SyncEngine
    done: dict[str, float] = field(default_factory=dict)  # message id -> monotonic time it completed
    event: threading.Event = field(default_factory=threading.Event)

    def on_change(self, ids: list[str]) -> None:
        now = time.monotonic()
        for mid in ids:
            msg = self.engine.store.get(mid)
            if msg is not None and msg.state is State.COMPLETED and mid not in self.done:
                self.done[mid] = now
                self.event.set()


def make_side(name: str, suite: EmulatorSuite, folder: Path, schedule: PollSchedule,
              firestore_url: str | None = None) -> Side:
    """A signed-in user's engine; `firestore_url` reaches Firestore another way (a proxy)."""
    auth = FirebaseAuth(EMULATOR_API_KEY, f"{suite.auth_url}/identitytoolkit.googleapis.com",
                        f"{suite.auth_url}/securetoken.googleapis.com", folder / f"session-{name}.json")
    auth.sign_in_anonymously()
    client = FirestoreClient(firestore_url or suite.firestore_url, suite.project, auth)
    store = MessageStore.for_user(folder / name, auth.uid)
    side = Side(name, None)  # type: ignore[arg-type]
    side.engine = SyncEngine(store, client, on_change=side.on_change, sync_history=False, schedule=schedule)
    side.engine.start()
    return side


def tap(side: Side, text: str, timeout: float) -> dict[str, float]:
    side.event.clear()
    reads_before = side.engine.reads
    started = time.monotonic()
    msg = side.engine.send(text, "default")
    while msg.id not in side.done:
        if not side.event.wait(timeout=max(0.0, started + timeout - time.monotonic())):
            raise SystemExit(f"{side.name}: no label for {text!r} after {timeout:.0f} s")
        side.event.clear()
    doc = side.engine.client.get_message(msg.id)
    server = function_latency(doc.fields) if doc else None
    return {"tap_to_result": side.done[msg.id] - started, "created_to_written": server or float("nan"),
            "reads": side.engine.reads - reads_before}


def summary(rows: list[dict[str, float]]) -> str:
    taps = [r["tap_to_result"] * 1000 for r in rows]
    server = [r["created_to_written"] * 1000 for r in rows]
    reads = [r["reads"] for r in rows]
    return (f"tap→result p50 {percentile(taps, 0.5):6.0f} ms  p95 {percentile(taps, 0.95):6.0f} ms | "
            f"created→written p50 {percentile(server, 0.5):5.0f} ms | "
            f"reads/message {statistics.mean(reads):.2f}")


def main() -> None:
    parser = make_parser(__file__, __doc__)
    parser.add_argument("--messages", type=int, default=15, help="warm messages per schedule (default 15)")
    parser.add_argument("--store", type=Path, default=REPO_ROOT / "models" / "store",
                        help="MODEL_STORE for the function (default: models/store)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one label")
    args = parser.parse_args()
    reason = why_no_suite()
    if reason:
        raise SystemExit(f"needs the Emulator Suite: {reason}")
    suite = EmulatorSuite(project="demo-tap", ports="free", only=("auth", "firestore", "functions"),
                          params={"MODEL_STORE": str(args.store.resolve())}, sweep_every_s=None)
    with tempfile.TemporaryDirectory() as tmp, suite:
        if not suite.function_loaded():
            suite.wait_for_line("classify_message]: firestore function initialized", timeout=60)
        sides = [make_side("adaptive", suite, Path(tmp), PollSchedule()),
                 make_side("fixed", suite, Path(tmp), FixedSchedule(
                     backoff=Backoff(first_s=0.7, factor=1.5, max_s=20.0, jitter=0.1)))]
        try:
            cold = tap(sides[0], "My first message today!", args.timeout)
            rows: dict[str, list[dict[str, float]]] = {s.name: [] for s in sides}
            for i in range(args.messages):
                for side in sides if i % 2 == 0 else sides[::-1]:
                    rows[side.name].append(tap(side, TEXTS[i % len(TEXTS)], args.timeout))
                    time.sleep(0.2)
        finally:
            for side in sides:
                side.engine.stop()
    print(f"tap Send → result in the app's store, through firebase-tools' emulators ({args.messages} warm "
          "messages per schedule, interleaved; the chip is drawn on the next frame)")
    print(f"first message (cold function, adaptive): tap→result {cold['tap_to_result']:.2f} s, "
          f"created→written {cold['created_to_written']:.2f} s, {cold['reads']} reads")
    for name, side_rows in rows.items():
        print(f"{name:9} {summary(side_rows)}")
    a, f = (percentile([r["tap_to_result"] for r in rows[n]], 0.5) for n in ("adaptive", "fixed"))
    print(f"adaptive vs fixed, warm p50: {f / a:.1f}x faster")


if __name__ == "__main__":
    main()
