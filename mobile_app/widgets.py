"""The chat's widgets: a message bubble with its state and emotion chip, and the three screens.

Their layout is in screens.kv; here is only what a layout cannot say: how a message's state
reads to a person, and how wide a bubble is.
"""

from __future__ import annotations

import time
import zlib

from kivy.core.text import Label as CoreLabel
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from mobile_app.messages import MAX_TEXT_CHARS, Message, State

# Colours for the labels of the emotion data set (and the GoEmotions ones people meet most);
# any other label gets a stable colour from its name.
EMOTION_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "joy": (0.93, 0.62, 0.05, 1), "love": (0.86, 0.25, 0.5, 1), "surprise": (0.55, 0.35, 0.85, 1),
    "sadness": (0.25, 0.45, 0.8, 1), "anger": (0.85, 0.2, 0.17, 1), "fear": (0.35, 0.38, 0.42, 1),
    "neutral": (0.5, 0.55, 0.58, 1), "gratitude": (0.2, 0.62, 0.4, 1), "admiration": (0.15, 0.6, 0.6, 1),
    "amusement": (0.95, 0.5, 0.15, 1), "disgust": (0.45, 0.55, 0.15, 1), "optimism": (0.3, 0.65, 0.25, 1),
}
_PALETTE = [(0.2, 0.5, 0.7, 1), (0.6, 0.3, 0.6, 1), (0.7, 0.45, 0.2, 1), (0.25, 0.55, 0.45, 1),
            (0.55, 0.4, 0.35, 1), (0.4, 0.4, 0.7, 1)]


def emotion_colour(label: str) -> tuple[float, float, float, float]:
    return EMOTION_COLOURS.get(label.lower(), _PALETTE[zlib.crc32(label.lower().encode()) % len(_PALETTE)])


def status_line(msg: Message) -> str:
    """The small grey line under a bubble: when it was written and where it is on its way."""
    when = time.strftime("%H:%M", time.localtime(msg.created_local))
    if msg.state is State.QUEUED:
        if msg.last_attempt_error:
            return f"{when} · not sent yet: {msg.last_attempt_error.rstrip('.')}"
        return f"{when} · sending…"
    where = {
        State.REJECTED: "not sent",
        State.SENT: "sent · waiting for the classifier",
        State.PROCESSING: "classifying…",
        State.COMPLETED: "",
        State.ERROR: "classifier error",
    }[msg.state]
    return f"{when} · {where}" if where else when


def chip_text(msg: Message) -> str:
    if msg.state is not State.COMPLETED or msg.emotion is None:
        return ""
    emotion = msg.emotion
    labels = emotion.labels if len(emotion.labels) > 1 else [emotion.label]
    return f"{' + '.join(labels)}  {emotion.score:.0%}"


class EmotionChip(BoxLayout):
    text = StringProperty("")
    chip_color = ColorProperty((0.5, 0.5, 0.5, 1))


class MessageBubble(BoxLayout):
    message_id = StringProperty("")
    text = StringProperty("")
    text_width = NumericProperty(dp(40))
    state_name = OptionProperty("queued", options=[s.value for s in State])
    status_text = StringProperty("")
    chip_text = StringProperty("")
    chip_color = ColorProperty((0.5, 0.5, 0.5, 1))
    error_text = StringProperty("")
    can_retry = BooleanProperty(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.bind(text=self._fit, width=self._fit)

    def show(self, msg: Message) -> None:
        self.message_id = msg.id
        self.text = msg.text
        self.state_name = msg.state.value
        self.status_text = status_line(msg)
        self.chip_text = chip_text(msg)
        model = msg.emotion.model if msg.emotion and msg.emotion.model else msg.model
        if self.chip_text and model and model != "default":
            self.chip_text += f"  ·  {model}"
        self.chip_color = emotion_colour(msg.emotion.label) if msg.emotion else (0.5, 0.5, 0.5, 1)
        self.error_text = (msg.error_message or "") if msg.state in (State.ERROR, State.REJECTED) else ""
        if msg.state is State.ERROR and msg.error_code:
            self.error_text = f"{self.error_text} ({msg.error_code})"
        if msg.state is State.ERROR and msg.retried:
            self.error_text += " · sent again below"
        self.can_retry = msg.state is State.REJECTED or (msg.state is State.ERROR and not msg.retried)

    def _fit(self, *_: object) -> None:
        """A bubble as wide as its text, up to 78% of the row: short messages stay short."""
        widest = max(_text_width(line) for line in (self.text.splitlines() or [""]))
        self.text_width = max(dp(24), min(widest + 2, self.width * 0.78 - dp(24)))


def _text_width(line: str) -> float:
    label = CoreLabel(font_size=sp(16))
    return float(label.get_extents(line)[0])


class SignInScreen(Screen):
    busy = BooleanProperty(False)
    message = StringProperty("")
    is_error = BooleanProperty(False)


class ChatScreen(Screen):
    has_earlier = BooleanProperty(False)
    hint = StringProperty("")
    hint_is_error = BooleanProperty(False)
    counter = StringProperty("")
    over_limit = BooleanProperty(False)

    def on_entry_text(self, text: str) -> None:
        # The counter appears near the limit only, so it never distracts from short messages.
        length = len(text.strip())
        self.over_limit = length > MAX_TEXT_CHARS
        self.counter = f"{length}/{MAX_TEXT_CHARS}" if length > MAX_TEXT_CHARS * 0.8 else ""
        if self.hint_is_error and not self.over_limit:
            self.hint, self.hint_is_error = "", False
        if self.over_limit:
            self.hint, self.hint_is_error = "Too long to send: shorten it.", True


class SettingsScreen(Screen):
    backend = StringProperty("emulator")
    message = StringProperty("")
    is_error = BooleanProperty(False)
    account = StringProperty("")
