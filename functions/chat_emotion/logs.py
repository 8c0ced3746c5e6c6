"""Structured log entries, one JSON object per line, each written whole.

Cloud Logging reads one JSON object per line (`severity`, `message`, and our `code`, `path`,
`eventId`). firebase_functions.logger has the same shape but prints the object and its newline
in two writes, so entries of concurrent requests (CONCURRENCY > 1) can share a line and lose their
structure (seen in tests/function/test_delivery.py). Here each entry is one write under a lock.
ERROR goes to stderr, everything else to stdout, as the SDK does.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

_lock = threading.Lock()


def write(severity: str, message: str, **fields: Any) -> None:
    entry = {"severity": severity, **fields, "message": message}
    line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    stream = sys.stderr if severity == "ERROR" else sys.stdout
    with _lock:
        stream.write(line)
        stream.flush()


def info(message: str, **fields: Any) -> None:
    write("INFO", message, **fields)


def warn(message: str, **fields: Any) -> None:
    write("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    write("ERROR", message, **fields)
