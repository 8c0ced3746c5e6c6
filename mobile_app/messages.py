"""A chat message and the states it goes through, from the keyboard to its emotion label.

No Kivy and no network here: the outbox, the sync engine and the screens all agree on this one
state machine, and it can be tested without a window.
"""

from __future__ import annotations

import secrets
import string
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

# The contract's text, defined as functions/chat_emotion/text.py defines it (the app ships without
# the function's package; tests/support/text_cases.py holds the app, the function and the rules to
# the same answers): at most 2000 UTF-16 code units, as the rules' `size()` counts (an emoji is 2),
# and at least one character that is not whitespace, control, format, a lone combining mark or blank.
MAX_TEXT_UNITS = 2000
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
MODELS: tuple[str, ...] = (
    "default", "minilm-l2", "minilm-l3", "minilm", "goemotions", "bert", "distilbert", "roberta", "electra",
    "mobilebert",
)

# Firestore's own auto-ids are 20 characters from this alphabet; ours look the same.
_ID_ALPHABET = string.ascii_letters + string.digits


def new_message_id() -> str:
    """A document id chosen on the device, so a retry of the same message names the same document."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


def utf16_length(text: str) -> int:
    """The length firestore.rules sees: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def is_readable(text: str) -> bool:
    """True when `text` holds something a person can read, not only spaces or invisible characters."""
    return any(ch not in _BLANK_LETTERS and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
               for ch in text)


class InvalidInput(ValueError):
    """Text the server would refuse; it stays on the device and the person is told why."""


def validate_text(text: str) -> str:
    """The text to send (surrounding whitespace removed), or InvalidInput with what to do instead."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("Type a message first.")
    if not is_readable(cleaned):
        raise InvalidInput("That message has only invisible characters; type something to send.")
    length = utf16_length(cleaned)
    if length > MAX_TEXT_UNITS:
        raise InvalidInput(
            f"That message is {length} characters; the limit is {MAX_TEXT_UNITS} "
            "(an emoji counts as 2). Shorten it or split it in two.")
    return cleaned


def validate_model(model: str) -> str:
    if not model or len(model) > 64:
        raise InvalidInput(f"Unknown model {model!r}; pick one of {', '.join(MODELS)}.")
    return model


class State(StrEnum):
    QUEUED = "queued"            # in the outbox: the server does not have it yet
    LOCAL = "local"              # `device` mode: labelled on the device and never sent
    REJECTED = "rejected"        # the server refused the write for good (rules, bad request); can be retried
    SENT = "sent"                # the server has it; the function has not started
    PROCESSING = "processing"    # status.state == PROCESSING
    COMPLETED = "completed"      # status.state == COMPLETED, emotion present
    ERROR = "error"              # status.state == ERROR: the function's own verdict, shown with its message

    @property
    def on_server(self) -> bool:
        return self not in (State.QUEUED, State.REJECTED, State.LOCAL)

    @property
    def final(self) -> bool:
        return self in (State.COMPLETED, State.ERROR, State.REJECTED, State.LOCAL)


_SERVER_STATES = {"PROCESSING": State.PROCESSING, "COMPLETED": State.COMPLETED, "ERROR": State.ERROR}


@dataclass
class Emotion:
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    model: str = ""
    model_version: str = ""
    latency_ms: float | None = None
    on_device: bool = False
    """Labelled by the app's own classifier (mobile_app.ondevice), not written by the function."""

    @classmethod
    def from_fields(cls, raw: dict[str, Any]) -> Emotion:
        labels = raw.get("labels") or []
        label = raw.get("label") or (labels[0] if labels else "?")
        return cls(
            label=str(label),
            score=float(raw.get("score") or 0.0),
            scores={str(k): float(v) for k, v in (raw.get("scores") or {}).items()},
            labels=[str(x) for x in labels],
            model=str(raw.get("model") or ""),
            model_version=str(raw.get("modelVersion") or ""),
            latency_ms=float(raw["latencyMs"]) if raw.get("latencyMs") is not None else None,
        )


@dataclass
class Message:
    id: str
    text: str
    model: str
    state: State = State.QUEUED
    created_local: float = field(default_factory=time.time)  # orders the history on this device
    created_at: str | None = None       # the server's createdAt (RFC 3339), once delivered
    emotion: Emotion | None = None
    """The cloud's verdict (the function's write-back), or in `device` mode the device's own."""
    device_emotion: Emotion | None = None
    """A provisional on-device label (hybrid / auto, or offline), shown until `emotion` arrives and
    then dropped: the cloud's label replaces it, nothing is merged. Written only through
    MessageStore.set_device_emotion, so the sync thread's copies never undo it."""
    error_code: str | None = None       # the function's status.error.code, or ours for REJECTED
    error_message: str | None = None
    attempts: int = 0                   # delivery attempts, for the "retrying" hint
    last_attempt_error: str | None = None  # why the last delivery attempt failed (offline, 503, ...)
    retried: bool = False               # an ERROR the person already re-sent as a new message

    @classmethod
    def compose(cls, text: str, model: str) -> Message:
        return cls(id=new_message_id(), text=validate_text(text), model=validate_model(model))

    # --- transitions --------------------------------------------------------------------------

    def delivered(self, created_at: str | None = None) -> None:
        """The server has the document (our write, or an earlier attempt's)."""
        if not self.state.on_server:
            self.state = State.SENT
        self.created_at = created_at or self.created_at
        self.last_attempt_error = None
        self.error_code = self.error_message = None

    def rejected(self, code: str, message: str) -> None:
        self.state = State.REJECTED
        self.error_code, self.error_message = code, message

    def requeue(self) -> None:
        """The person pressed retry on a refused write: same id, so it still lands at most once."""
        if self.state is not State.REJECTED:
            raise ValueError(f"only a refused message is re-queued, not one in state {self.state}")
        self.state = State.QUEUED
        self.error_code = self.error_message = None
        self.attempts = 0

    def apply_server(self, fields: dict[str, Any]) -> bool:
        """Take the document as the server has it; True when anything the person sees changed."""
        before = self.to_json()
        self.created_at = fields.get("createdAt") or self.created_at
        status = fields.get("status") or {}
        state = _SERVER_STATES.get(str(status.get("state", "")).upper())
        if state is None:
            self.delivered()
        else:
            self.state = state
        if self.state is State.COMPLETED and isinstance(fields.get("emotion"), dict):
            self.emotion = Emotion.from_fields(fields["emotion"])
            self.device_emotion = None  # replaced by the cloud's, not merged
        if self.state is State.ERROR:
            error = status.get("error") or {}
            self.error_code = str(error.get("code") or "UNKNOWN")
            self.error_message = str(error.get("message") or "The classifier failed without saying why.")
        return self.to_json() != before

    # --- persistence --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        data = dict(data)
        data["state"] = State(data["state"])
        for key in ("emotion", "device_emotion"):
            if data.get(key) is not None:
                data[key] = Emotion(**data[key])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})
