"""Structured logs stay one JSON object per line while concurrent requests log at once.

Cloud Logging parses each line of a function's output as one entry; a line holding two objects
loses its severity and code, the fields every ERROR is found by. Unit tier: real threads, the
process's real stdout/stderr file descriptors.
"""

from __future__ import annotations

import json
import threading

import pytest
from chat_emotion import logs

THREADS, ENTRIES = 16, 300  # CONCURRENCY's default, a busy instance's worth of entries


def test_concurrent_entries_never_share_a_line(capfd: pytest.CaptureFixture[str]) -> None:
    barrier = threading.Barrier(THREADS)

    def request(n: int) -> None:
        barrier.wait()
        for i in range(ENTRIES):
            if i % 50 == 0:
                logs.error("crashed", code="INTERNAL", path=f"users/u{n}/messages/m{i}", traceback="x\ny")
            else:
                logs.info("classified", code="OK", path=f"users/u{n}/messages/m{i}", label="joy")

    threads = [threading.Thread(target=request, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    out, err = capfd.readouterr()
    for stream, severity in ((out, "INFO"), (err, "ERROR")):
        lines = stream.split("\n")
        assert lines[-1] == ""
        entries = [json.loads(line) for line in lines[:-1]]  # each line parses as exactly one object
        assert {e["severity"] for e in entries} == {severity}
    assert len(out.split("\n")) - 1 + len(err.split("\n")) - 1 == THREADS * ENTRIES
