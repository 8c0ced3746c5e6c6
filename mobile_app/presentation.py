"""How a message reads to a person: the words and colours under its bubble. No Kivy here, so the
wording of every state is tested without a window (the bubble widget only displays this)."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

from mobile_app.messages import Message, State

RGBA = tuple[float, float, float, float]
# Colours for the labels of the emotion data set (and the GoEmotions ones people meet most);
# any other label gets a stable colour from its name.
EMOTION_COLOURS: dict[str, RGBA] = {
    "joy": (0.93, 0.62, 0.05, 1), "love": (0.86, 0.25, 0.5, 1), "surprise": (0.55, 0.35, 0.85, 1),
    "sadness": (0.25, 0.45, 0.8, 1), "anger": (0.85, 0.2, 0.17, 1), "fear": (0.35, 0.38, 0.42, 1),
    "neutral": (0.5, 0.55, 0.58, 1), "gratitude": (0.2, 0.62, 0.4, 1), "admiration": (0.15, 0.6, 0.6, 1),
    "amusement": (0.95, 0.5, 0.15, 1), "disgust": (0.45, 0.55, 0.15, 1), "optimism": (0.3, 0.65, 0.25, 1),
}
_PALETTE: list[RGBA] = [(0.2, 0.5, 0.7, 1), (0.6, 0.3, 0.6, 1), (0.7, 0.45, 0.2, 1), (0.25, 0.55, 0.45, 1),
                        (0.55, 0.4, 0.35, 1), (0.4, 0.4, 0.7, 1)]
GREY: RGBA = (0.5, 0.5, 0.5, 1)
CHIP_LABELS = 3
"""Labels a chip names at most; more are counted (+N)."""


def emotion_colour(label: str) -> RGBA:
    return EMOTION_COLOURS.get(label.lower(), _PALETTE[zlib.crc32(label.lower().encode()) % len(_PALETTE)])


@dataclass(frozen=True)
class BubbleView:
    status: str        # time, and where the message is on its way
    chip: str          # "joy  93%  ·  bert", or "" while there is no result
    chip_colour: RGBA
    error: str         # the function's message (and code), or why the server refused the write
    can_retry: bool


ON_DEVICE = "on device"
"""How a chip says its label came from the device's own model, not the cloud's."""

_WHERE = {
    State.LOCAL: "kept on this device",
    State.REJECTED: "not sent",
    State.SENT: "sent · waiting for the classifier",
    State.PROCESSING: "classifying…",
    State.COMPLETED: "",
    State.ERROR: "classifier error",
}


RATE_LIMITED = "RATE_LIMITED"
"""The function's code for a message past the sender's rate limit (functions/chat_emotion/quota.py)."""


def describe(msg: Message) -> BubbleView:
    when = time.strftime("%H:%M", time.localtime(msg.created_local))
    if msg.state is State.QUEUED:
        why = msg.last_attempt_error
        status = f"{when} · not sent yet: {why.rstrip('.')}" if why else f"{when} · sending…"
    elif msg.state is State.ERROR and msg.error_code == RATE_LIMITED:
        # Not a fault of the classifier's: the message is kept, and Retry sends it again.
        status = f"{when} · limit reached: kept here to send again"
    else:
        status = f"{when} · {_WHERE[msg.state]}" if _WHERE[msg.state] else when

    chip, colour = "", GREY
    # The cloud's label; until it comes, a provisional one from the device (hybrid, auto, offline).
    shown = msg.emotion if msg.state in (State.COMPLETED, State.LOCAL) else None
    emotion = shown or (msg.device_emotion if msg.state is not State.REJECTED else None)
    if emotion is not None:
        # A multi-label model may put several labels on (highest first): the chip names up to three.
        labels = emotion.labels if len(emotion.labels) > 1 else [emotion.label]
        more = f" +{len(labels) - CHIP_LABELS}" if len(labels) > CHIP_LABELS else ""
        chip = f"{' + '.join(labels[:CHIP_LABELS])}{more}  {emotion.score:.0%}"
        served_by = emotion.model or msg.model
        if emotion.on_device:
            chip += f"  ·  {ON_DEVICE}" + (f" ({served_by})" if served_by else "")
        elif served_by and served_by != "default":
            chip += f"  ·  {served_by}"
        colour = emotion_colour(labels[0])
    elif msg.state is State.LOCAL:
        chip = "no on-device model: see Settings"

    error = ""
    if msg.state in (State.ERROR, State.REJECTED):
        error = msg.error_message or ""
        if msg.state is State.ERROR and msg.error_code:
            error = f"{error} ({msg.error_code})"
        if msg.retried:
            error += " · sent again below"
    can_retry = msg.state is State.REJECTED or (msg.state is State.ERROR and not msg.retried)
    return BubbleView(status, chip, colour, error, can_retry)
