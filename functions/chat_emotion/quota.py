"""Per-person rate limits, counted inside the claim's own commit: no extra read, no extra round trip.

Firestore rules cannot count a person's messages without a `get()` per create (a billed read on
every message), so the count is the function's: the claim that sets a message PROCESSING commits,
in the same atomic batch, `Increment(1)` on two counters of one document per person and UTC day,

    rateLimits/{uid}_{YYYY-MM-DD}   {day: N, minute: {m<epoch minute>: n, ...}, expireAt: <day + 2>}

and Firestore returns the counters' new values with the commit (transform results). A message past
either limit ends ERROR `RATE_LIMITED` before any model runs, and its increments are given back, so
refused messages do not use up the quota. The cost on the normal path is one document write.

Windows are fixed (a UTC calendar minute and day), not sliding: at most twice the minute limit can
land in 60 s that straddle a minute boundary. A counter document holds at most one field per
minute of the day it was used in and is deleted after `expireAt` by a Firestore TTL policy (docs/
DEPLOY.md) or, where none is set up (the emulator), by the scheduled sweep (chat_emotion.recovery).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

COLLECTION = "rateLimits"
KEEP_DAYS = 2
"""A counter document expires this many days after its day began (the day's own count, plus slack)."""


@dataclass(frozen=True)
class Limits:
    """Messages a person may have classified: per minute and per UTC day; 0 means no limit."""

    per_minute: int = 30
    per_day: int = 1000

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0 or self.per_day > 0


@dataclass(frozen=True)
class Window:
    """Where one message of `uid` at `now` is counted."""

    uid: str
    now: dt.datetime

    @property
    def day(self) -> str:
        return self.now.strftime("%Y-%m-%d")

    @property
    def minute_key(self) -> str:
        return f"m{int(self.now.timestamp()) // 60}"

    @property
    def document(self) -> str:
        return f"{COLLECTION}/{self.uid}_{self.day}"

    @property
    def expire_at(self) -> dt.datetime:
        start = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start + dt.timedelta(days=KEEP_DAYS)

    def next_minute(self) -> dt.datetime:
        return self.now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)

    def next_day(self) -> dt.datetime:
        return self.now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)


def clock() -> dt.datetime:
    """The instance's UTC clock (a test may set another)."""
    return dt.datetime.now(dt.UTC)


def window(uid: str, now: dt.datetime | None = None) -> Window:
    return Window(uid, now or clock())


@dataclass(frozen=True)
class Usage:
    """The counters after this message was counted (it included)."""

    minute: int
    day: int


def refusal(limits: Limits, usage: Usage, where: Window) -> tuple[str, dt.datetime] | None:
    """(the sentence for the person, when to retry) when `usage` is past a limit, else None."""
    if limits.per_day and usage.day > limits.per_day:
        retry_at = where.next_day()
        return (f"you have sent more than {limits.per_day} messages today (UTC); this one was not "
                f"classified: send it again after {retry_at:%Y-%m-%d %H:%M} UTC"), retry_at
    if limits.per_minute and usage.minute > limits.per_minute:
        retry_at = where.next_minute()
        return (f"you have sent more than {limits.per_minute} messages this minute; this one was not "
                f"classified: send it again after {retry_at:%H:%M:%S} UTC"), retry_at
    return None
