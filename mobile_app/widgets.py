"""The chat's widgets: a message bubble with its state and emotion chip, and the three screens.

Their layout is in screens.kv, the words for each state in presentation.py; here is only what
neither can say: how wide a bubble is, and when the character counter shows.
"""

from __future__ import annotations

from kivy.core.text import Label as CoreLabel
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from mobile_app.messages import MAX_TEXT_UNITS, Message, State, utf16_length
from mobile_app.presentation import describe


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
        view = describe(msg)
        self.message_id = msg.id
        self.text = msg.text
        self.state_name = msg.state.value
        self.status_text = view.status
        self.chip_text = view.chip
        self.chip_color = view.chip_colour
        self.error_text = view.error
        self.can_retry = view.can_retry

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
        length = utf16_length(text.strip())
        self.over_limit = length > MAX_TEXT_UNITS
        self.counter = f"{length}/{MAX_TEXT_UNITS}" if length > MAX_TEXT_UNITS * 0.8 else ""
        if self.hint_is_error and not self.over_limit:
            self.hint, self.hint_is_error = "", False
        if self.over_limit:
            self.hint, self.hint_is_error = "Too long to send: shorten it.", True


class SettingsScreen(Screen):
    backend = StringProperty("emulator")
    device_status = StringProperty("")
    message = StringProperty("")
    is_error = BooleanProperty(False)
    account = StringProperty("")
