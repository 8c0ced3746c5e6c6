"""The outbox and the results poller: one worker thread between the message store and Firestore.

The UI thread only touches the local store (`send`, `retry`) and wakes the worker; every network
call happens here. `on_change(ids)` is called from the worker thread: the app hops back to the UI
thread with `Clock.schedule_once`.

Delivery is exactly once because the id is chosen on the device and the create is conditional
(`exists: false`): a retry after a lost answer, a kill mid-send or a restart finds the document
there and counts it as delivered. Polling (batchGet of the unfinished ids; each id is one billed
read) follows the function's own latency (`PollSchedule`), backs off while nothing changes and
stops when nothing is unfinished, or after `poll_give_up_s` without news.

Labels on the device (mobile_app/ondevice.py): with a `DeviceLabeller`, `send` labels the text on
the calling thread (a few ms) in `hybrid`, in `auto` when the rule says the device is faster or the
cloud is unreachable, and in `device` mode, where the message is kept on the device (State.LOCAL)
and the engine makes no network call at all.
"""

from __future__ import annotations

import logging
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from mobile_app.auth import AuthError
from mobile_app.firestore_rest import FirestoreClient, FirestoreError
from mobile_app.messages import Message, State
from mobile_app.ondevice import DeviceLabeller, auto_shows_device_label
from mobile_app.store import MessageStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Backoff:
    first_s: float
    factor: float
    max_s: float
    jitter: float = 0.2
    """± fraction: many devices coming back online together should not retry in lockstep."""

    def delay(self, failures: int) -> float:
        base = min(self.max_s, self.first_s * self.factor ** max(0, failures - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))


SEND_BACKOFF = Backoff(first_s=1.0, factor=2.0, max_s=60.0)
POLL_BACKOFF = Backoff(first_s=0.25, factor=1.5, max_s=20.0, jitter=0.1)


@dataclass
class PollSchedule:
    """When to look for a result: when the function usually has it, not on a fixed timer.

    Each finished message tells how long the function took for it, on the server's own clocks
    (`status.completeTime` − `createdAt`), whenever the app happened to look; the estimate is the
    median of the last few, so one cold start does not slow the looks after it. After a delivery
    the first look is due when a result is expected (never later than `backoff.first_s`); a look
    that finds nothing backs off from half that latency (×1.5 each time), except while the
    function has claimed a message (PROCESSING: its result is a model run away), when it looks
    again soon, a bounded number of times. Before anything is known (a fresh start, where the
    first message may well meet a cold instance) it looks every `cold_every_s` for up to
    `cold_looks` looks, so the first label shows at most that long after it is written (a few
    reads more, once per start), then backs off from `backoff.first_s`.
    """

    backoff: Backoff = POLL_BACKOFF
    processing_every_s: float = 0.1
    processing_looks: int = 20
    """Quick looks at a PROCESSING message before backing off again (an instance that died)."""
    cold_every_s: float = 0.3
    cold_looks: int = 40
    """Looks every `cold_every_s` while no latency is known yet (12 s: a cold instance's start)."""
    window: int = 8
    """Latencies the median is taken over."""
    floor_s: float = 0.05
    recent: list[float] = field(default_factory=list)

    @property
    def estimate_s(self) -> float | None:
        return statistics.median(self.recent) if self.recent else None

    def observe(self, latency_s: float) -> None:
        if not 0.0 < latency_s < 600.0:  # clocks that disagree, or a message from long ago
            return
        self.recent = [*self.recent, latency_s][-self.window:]

    def _base(self, fraction: float) -> float:
        estimate = self.estimate_s
        if estimate is None:
            return self.backoff.first_s
        return min(self.backoff.first_s, max(self.floor_s, estimate * fraction))

    def first(self) -> float:
        """Seconds from a delivery to the first look."""
        return self._base(1.0)

    def after_miss(self, misses: int, processing: bool) -> float:
        """Seconds to the next look after `misses` looks in a row found nothing new."""
        if processing and misses <= self.processing_looks:
            return self.processing_every_s
        if self.estimate_s is None and misses <= self.cold_looks:
            return self.cold_every_s
        return Backoff(first_s=self._base(0.5), factor=self.backoff.factor, max_s=self.backoff.max_s,
                       jitter=self.backoff.jitter).delay(misses)


class SyncEngine:
    def __init__(self, store: MessageStore, client: FirestoreClient | None,
                 on_change: Callable[[list[str]], None] = lambda ids: None,
                 on_auth_lost: Callable[[str], None] = lambda message: None,
                 send_backoff: Backoff = SEND_BACKOFF, poll_backoff: Backoff = POLL_BACKOFF,
                 poll_give_up_s: float = 600.0, sync_history: bool = True,
                 schedule: PollSchedule | None = None, labeller: DeviceLabeller | None = None,
                 mode: str = "cloud") -> None:
        if mode != "device" and client is None:
            raise ValueError("only device mode runs without a Firestore client")
        self.store = store
        self.client = client
        self.labeller = labeller
        self.mode = mode
        self.on_change = on_change
        self.on_auth_lost = on_auth_lost
        self.send_backoff = send_backoff
        self.schedule = schedule or PollSchedule(backoff=poll_backoff)
        self.poll_give_up_s = poll_give_up_s
        self._sync_history = sync_history
        self._wake = threading.Condition()
        self._kicked = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._send_failures = 0
        self._next_send = 0.0
        self._poll_failures = 0
        self._next_poll = 0.0
        self._last_news = time.monotonic()
        self.polls = 0  # how many polls went out: tests check that idle means no traffic
        self.reads = 0  # documents asked for by those polls: what Firestore bills
        self.online = True  # False after a call got no answer at all, until one does
        self.round_trips: list[float] = []  # seconds per create: the network's share of tap → label

    # --- UI thread ----------------------------------------------------------------------------

    def send(self, text: str, model: str) -> Message:
        """Validate (InvalidInput stays on the device), persist to the outbox, wake the worker.

        In device mode the message is labelled here and kept here (State.LOCAL); in hybrid and
        auto it may get a provisional on-device label first (`device_emotion`)."""
        msg = Message.compose(text, model)
        if self.mode == "device":
            msg.state = State.LOCAL
            msg.emotion = self.labeller.label(msg.text) if self.labeller else None
            self.store.add(msg)
            return msg
        self.store.add(msg)
        if self.labeller is not None and self.wants_device_label():
            emotion = self.labeller.label(msg.text)
            if emotion is not None and self.store.set_device_emotion(msg.id, emotion):
                msg.device_emotion = emotion
        self.kick(reset=True)
        return msg

    def cloud_ms(self) -> float | None:
        """What a label from the cloud costs now (tap → label): the function's recent latency plus
        two round trips (the write, the read that finds the result); None until both are known."""
        estimate = self.schedule.estimate_s
        if estimate is None or not self.round_trips:
            return None
        return 1000 * (estimate + 2 * statistics.median(self.round_trips))

    def wants_device_label(self) -> bool:
        if self.mode == "hybrid":
            return True
        if self.mode == "auto" and self.labeller is not None:
            return auto_shows_device_label(self.labeller.latency_ms(), self.cloud_ms(), self.online)
        return self.mode == "device"

    def label_unlabelled(self) -> None:
        """Device mode, once the model has loaded: label what was sent before it was ready."""
        if self.mode != "device" or self.labeller is None or not self.labeller.ready:
            return
        changed = []
        for msg in self.store.all():
            if msg.state is State.LOCAL and msg.emotion is None:
                msg.emotion = self.labeller.label(msg.text)
                changed.append(msg)
        if changed:
            self.store.put_many(changed)
            self.on_change([m.id for m in changed])

    def retry(self, message_id: str) -> Message | None:
        """Retry what failed: a refused write goes again under its id; a server ERROR is sent anew."""
        msg = self.store.get(message_id)
        if msg is None:
            return None
        if msg.state is State.REJECTED:
            msg.requeue()
            self.store.put(msg)
            self.kick(reset=True)
            return msg
        if msg.state is State.ERROR and not msg.retried:
            msg.retried = True
            self.store.put(msg)
            return self.send(msg.text, msg.model)
        return None

    def kick(self, reset: bool = False) -> None:
        """Wake the worker now (new message, back online, app resumed), skipping any backoff."""
        with self._wake:
            if reset:
                self._next_send = self._next_poll = 0.0
                self._send_failures = self._poll_failures = 0
                self._last_news = time.monotonic()
            self._kicked = True
            self._wake.notify()

    def start(self) -> SyncEngine:
        if self.mode == "device":
            return self  # nothing leaves the device: no worker, no traffic
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- worker thread ------------------------------------------------------------------------

    def _run(self) -> None:
        if self._sync_history:
            self._guard(self.pull_history)
        while True:
            wait = self._guard(self.step)
            with self._wake:
                if self._stopped:
                    return
                if not self._kicked:
                    self._wake.wait(timeout=wait)
                self._kicked = False
                if self._stopped:
                    return

    def _guard(self, fn: Callable[[], float | None]) -> float | None:
        """Run one round; a sign-in that is gone stops traffic until the person signs in again."""
        try:
            return fn()
        except AuthError as err:
            if err.transient:
                return self.send_backoff.delay(1)
            self.on_auth_lost(str(err))
            return None
        except Exception:  # a bug must not kill the only thread that delivers messages
            log.exception("sync round failed; retrying later")
            return self.send_backoff.max_s

    def step(self) -> float | None:
        """One round of sending and polling; returns seconds until the next is due (None: idle)."""
        now = time.monotonic()
        if now >= self._next_send:
            self.drain_outbox()
        now = time.monotonic()
        if now >= self._next_poll:
            self.poll()
        due = []
        if self.store.outbox():
            due.append(self._next_send)
        if self.store.unfinished() and time.monotonic() - self._last_news < self.poll_give_up_s:
            due.append(self._next_poll)
        if not due:
            return None
        return max(0.0, min(due) - time.monotonic())

    def drain_outbox(self) -> None:
        for msg in self.store.outbox():
            msg.attempts += 1
            started = time.monotonic()
            try:
                created_at = self.client.create_message(msg.id, msg.text, msg.model)
            except FirestoreError as err:
                self.online = err.http_status != 0
                if err.transient or err.unauthenticated:
                    # The rest would fail the same way: they wait, in order, for the same reason.
                    waiting = [msg, *(m for m in self.store.outbox() if m.id != msg.id)]
                    for each in waiting:
                        each.last_attempt_error = err.human()
                    self.store.put_many(waiting)
                    self._send_failures += 1
                    self._next_send = time.monotonic() + self.send_backoff.delay(self._send_failures)
                    self.on_change([m.id for m in waiting])
                    return
                msg.rejected(err.status or f"HTTP_{err.http_status}", err.human())
            else:
                self.online = True
                self.round_trips = [*self.round_trips, time.monotonic() - started][-self.schedule.window:]
                msg.delivered(created_at)
                # A fresh message: the next look is when its result is due (a look before that
                # would be a billed read that finds nothing; the other pending ones can wait as long).
                self._next_poll = time.monotonic() + self.schedule.first()
                self._poll_failures = 0
                self._last_news = time.monotonic()
            self.store.put(msg)
            self.on_change([msg.id])
        self._send_failures = 0

    def poll(self) -> None:
        unfinished = self.store.unfinished()
        if not unfinished or time.monotonic() - self._last_news >= self.poll_give_up_s:
            return
        self.polls += 1
        self.reads += len(unfinished)
        try:
            docs = self.client.get_messages([m.id for m in unfinished])
        except FirestoreError as err:
            self.online = err.http_status != 0
            if not (err.transient or err.unauthenticated):
                log.warning("poll refused: %s", err)
            self._poll_failures += 1
            self._next_poll = time.monotonic() + self.send_backoff.delay(self._poll_failures)
            return
        self.online = True
        changed = []
        for msg in unfinished:
            doc = docs.get(msg.id)
            if doc is not None and msg.apply_server(doc.fields):
                changed.append(msg)
                if msg.state is State.COMPLETED:
                    latency = function_latency(doc.fields)
                    if latency is not None:
                        self.schedule.observe(latency)
        if changed:
            self.store.put_many(changed)
            self._poll_failures = 0
            self._last_news = time.monotonic()
            self.on_change([m.id for m in changed])
        else:
            self._poll_failures += 1
        processing = any(m.state is State.PROCESSING for m in self.store.unfinished())
        self._next_poll = time.monotonic() + self.schedule.after_miss(self._poll_failures + 1, processing)

    def pull_history(self) -> None:
        """Merge the person's recent messages from the server (a new device, or a reinstall)."""
        try:
            docs = self.client.recent_messages()
        except FirestoreError as err:
            log.info("history not fetched: %s", err)
            return
        changed = []
        for doc in docs:
            msg = self.store.get(doc.id)
            if msg is None:
                msg = Message(id=doc.id, text=str(doc.fields.get("text", "")),
                              model=str(doc.fields.get("model", "default")), state=State.SENT,
                              created_local=_epoch(doc.fields.get("createdAt")) or time.time())
                msg.apply_server(doc.fields)
                changed.append(msg)
            elif msg.apply_server(doc.fields):
                changed.append(msg)
        if changed:
            self.store.put_many(changed)
            self.on_change([m.id for m in changed])


def function_latency(fields: dict) -> float | None:
    """Seconds from the document's creation to the function's write-back, both on server clocks."""
    status = fields.get("status")
    created = _epoch(fields.get("createdAt"))
    completed = _epoch(status.get("completeTime")) if isinstance(status, dict) else None
    return None if created is None or completed is None else completed - created


def _epoch(rfc3339: object) -> float | None:
    if not isinstance(rfc3339, str):
        return None
    try:
        return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
