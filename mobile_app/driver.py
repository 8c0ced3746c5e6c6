"""Drive the real app from a script: type each message, press Send, wait for its label.

For headless runs (tests, the end-to-end tier, demos): `python -m mobile_app --script FILE
--screenshot PATH`. The script is plain text, one message per line; `#` starts a comment line and
`@model NAME` picks the model for the lines after it (through the model picker, as a person would);
`@retry` taps Retry under the newest message that offers one and waits for what it sends;
`@device-label` waits for the on-device model to load, then makes a provisional on-device label
enough for the lines after it (hybrid, auto or offline: the screenshot then shows the chip marked
"on device").
Each message prints as one JSON line on stdout once it is final (or timed out):
`{"id", "text", "model", "state", "label", "score", "labels", "served_by", "error_code", "error"}`
(`state` "invalid" when the app refused it on the device, with the reason it showed); at the end
`{"screenshot": PATH, "messages_shown": N}`. Exit status: 0 when every message the app accepted
reached a final state (completed, error, or labelled on the device), 1 otherwise (timeout, sign-in failed).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from kivy.base import EventLoop
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.tests.common import UnitTestTouch
from kivy.uix.widget import Widget

from mobile_app.messages import Message, State
from mobile_app.presentation import describe

if TYPE_CHECKING:
    from mobile_app.app import EmotionChatApp


@dataclass(frozen=True)
class Step:
    kind: str  # "say" or "model"
    value: str


def parse_script(text: str) -> list[Step]:
    steps = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@model "):
            steps.append(Step("model", line.removeprefix("@model ").strip()))
        elif line == "@retry":
            steps.append(Step("retry", ""))
        elif line == "@device-label":
            steps.append(Step("device-label", ""))
        else:
            steps.append(Step("say", line))
    return steps


def press(widget: Widget) -> None:
    """A touch down and up at the widget's centre, dispatched like a finger's."""
    x, y = widget.to_window(*widget.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def type_text(text: str) -> None:
    for ch in text:
        Window.dispatch("on_textinput", ch)


def result_line(msg: Message | None, text: str, model: str) -> dict[str, object]:
    if msg is None:
        return {"id": None, "text": text, "model": model, "state": "not-sent", "label": None, "score": None,
                "error_code": None, "error": "the app did not take the message"}
    emotion = msg.emotion or msg.device_emotion
    return {"id": msg.id, "text": msg.text, "model": msg.model, "state": msg.state.value,
            "label": emotion.label if emotion else None,
            "score": round(emotion.score, 4) if emotion else None,
            "labels": emotion.labels if emotion else [], "served_by": emotion.model if emotion else None,
            "on_device": bool(emotion and emotion.on_device),
            "error_code": msg.error_code, "error": msg.error_message or msg.last_attempt_error}


class ScriptDriver:
    """A small state machine ticking on the Kivy clock, inside the app's own event loop."""

    def __init__(self, app: EmotionChatApp, steps: list[Step], screenshot: Path | None,
                 timeout_s: float = 60.0, out: IO[str] = sys.stdout) -> None:
        self.app = app
        self.steps = list(steps)
        self.screenshot = screenshot
        self.timeout_s = timeout_s
        self.out = out
        self.ok = True
        self._waiting: tuple[str | None, str, str, float] | None = None
        self._pressed_sign_in = False
        self._settle_frames = 0
        self.device_label_enough = False
        self._model_deadline: float | None = None

    def start(self) -> None:
        Clock.schedule_interval(self._tick, 0.1)

    def _emit(self, record: dict[str, object]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.out.flush()

    def _tick(self, dt: float) -> bool:
        app = self.app
        if app.root is None:
            return True
        if app.root.current == "signin":
            screen = app.root.get_screen("signin")
            if screen.is_error and screen.message:
                self._emit({"error": f"sign-in failed: {screen.message}"})
                self.ok = False
                return self._finish()
            button = screen.ids.guest_button
            # Press only once the screen is laid out: on the first ticks the button still has
            # Kivy's default size and position (100x100 at 0,0), so the touch would hit another widget.
            if not self._pressed_sign_in and button.get_root_window() is not None and button.y > 0:
                self._pressed_sign_in = True
                press(button)
            return True
        if app.root.current != "chat" or app.store is None:
            return True
        if self._waiting is not None:
            return self._check_waiting()
        if self._model_deadline is not None:
            return self._check_model()
        if self.steps:
            self._run(self.steps.pop(0))
            return True
        return self._finish()

    def _run(self, step: Step) -> None:
        chat = self.app.root.get_screen("chat")
        if step.kind == "model":
            chat.ids.model_picker.text = step.value  # the picker's on_text is what a tap would fire
            return
        if step.kind == "device-label":
            self.device_label_enough = True
            self._model_deadline = time.monotonic() + self.timeout_s
            return
        if step.kind == "retry":
            self._retry(chat)
            return
        before = {m.id for m in self.app.store.all()}
        entry = chat.ids.entry
        entry.focus = True
        EventLoop.idle()
        type_text(step.value)
        press(chat.ids.send_button)
        new = [m for m in self.app.store.all() if m.id not in before]
        mid = new[-1].id if new else None
        if mid is None:
            # Refused on the device (empty, too long): reported, and the person clears the box.
            record = {**result_line(None, step.value, self.app.model), "error": chat.hint}
            if chat.hint_is_error and chat.hint:
                record["state"] = "invalid"
            else:
                self.ok = False
            self._emit(record)
            entry.text = ""
            return
        self._waiting = (mid, step.value, self.app.model, time.monotonic() + self.timeout_s)

    def _check_model(self) -> bool:
        """After `@device-label`: the next message is typed once the on-device model has loaded."""
        assert self._model_deadline is not None
        labeller = self.app.labeller
        if labeller is not None and labeller.ready:
            self._model_deadline = None
        elif labeller is None or labeller.failed or time.monotonic() > self._model_deadline:
            self._emit({"error": "@device-label: no on-device model "
                        f"({labeller.status if labeller else 'this labels mode uses none'})"})
            self.ok = False
            self._model_deadline = None
        return True

    def _retry(self, chat: Widget) -> None:
        """Tap Retry under the newest message that offers it; wait for what that sends."""
        assert self.app.store is not None
        failed = [m for m in self.app.store.all() if describe(m).can_retry and m.id in self.app.bubbles]
        if not failed:
            self._emit({"error": "@retry: no message offers a retry"})
            self.ok = False
            return
        target = failed[-1]
        bubble = self.app.bubbles[target.id]
        chat.ids.scroller.scroll_to(bubble, animate=False)
        # Scrolling lands on the next frame: tap then.
        self._waiting = (None, target.text, target.model, time.monotonic() + self.timeout_s)
        Clock.schedule_once(lambda dt: self._tap_retry(target, bubble), 0.2)

    def _tap_retry(self, target: Message, bubble: Widget) -> None:
        assert self.app.store is not None
        before = {m.id for m in self.app.store.all()}
        press(bubble.ids.retry_button)
        new = [m for m in self.app.store.all() if m.id not in before]
        # A classifier ERROR is sent again as a new message; a refused write goes again as itself.
        mid = new[-1].id if new else target.id
        self._waiting = (mid, target.text, target.model, time.monotonic() + self.timeout_s)

    def _check_waiting(self) -> bool:
        assert self._waiting is not None and self.app.store is not None
        mid, text, model, deadline = self._waiting
        if mid is None and time.monotonic() <= deadline:
            return True  # a tap is still to land
        msg = self.app.store.get(mid) if mid else None
        final = msg is not None and (
            msg.state in (State.COMPLETED, State.ERROR)
            or (msg.state is State.LOCAL and msg.emotion is not None)
            or (self.device_label_enough and msg.device_emotion is not None))
        if final or time.monotonic() > deadline:
            record = result_line(msg, text, model)
            if not final:
                record["error"] = f"no result within {self.timeout_s:.0f} s (state {record['state']})"
                self.ok = False
            self._emit(record)
            self._waiting = None
        return True

    def _finish(self) -> bool:
        # A few frames so the last label is drawn before the picture is taken.
        self._settle_frames += 1
        if self._settle_frames < 5:
            return True
        if self.screenshot is not None:
            self.screenshot.parent.mkdir(parents=True, exist_ok=True)
            # Window.screenshot numbers its files (name0001.png): write, then move into place.
            written = Window.screenshot(name=str(self.screenshot.with_suffix(".tmp.png")))
            shutil.move(written, self.screenshot)
        self._emit({"screenshot": str(self.screenshot.resolve()) if self.screenshot else None,
                    "messages_shown": len(self.app.bubbles)})
        self.app.exit_code = 0 if self.ok else 1
        self.app.stop()
        return False
