"""Rate limits through the emulators: the official Firestore emulator delivers each person's REST
writes to the real function (a subprocess, RATE_PER_MINUTE=5 in its environment, as a deploy's
functions/.env would set it). A burst past the limit from one person ends RATE_LIMITED with no model
run; another person writing at the same moment is not limited.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.function.test_delivery import Stack, create_as_user, running_stack, wait_for_state
from tests.support.tiny_model import TinyArtifact

pytestmark = pytest.mark.emulator

PER_MINUTE = 5
BURST = 12


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory,
                  tiny_artifacts: dict[str, TinyArtifact]) -> Iterator[Stack]:
    params = {"RATE_PER_MINUTE": str(PER_MINUTE), "RATE_PER_DAY": "1000"}
    with running_stack(tmp_path_factory.mktemp("rate-limit"), tiny_artifacts, params) as running:
        yield running


def within_one_minute() -> None:
    """Windows are UTC calendar minutes: start the burst early in one, so it cannot straddle two."""
    second = dt.datetime.now(dt.UTC).second
    if second > 40:
        time.sleep(61 - second)


def test_a_burst_past_the_limit_is_refused_and_another_person_is_not(limited_stack: Stack) -> None:
    within_one_minute()
    sends = [("alice", f"a{i:02d}") for i in range(BURST)] + [("bob", f"b{i}") for i in range(3)]
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda s: create_as_user(limited_stack, s[0], s[1], "i feel so happy"), sends))
    docs = {path: wait_for_state(limited_stack, path, timeout=60) for path in paths}

    def outcomes(uid: str) -> Counter:
        return Counter(d["status"]["state"] if d["status"]["state"] == "COMPLETED"
                       else d["status"]["error"]["code"]
                       for p, d in docs.items() if p.startswith(f"users/{uid}/"))

    assert outcomes("alice") == {"COMPLETED": PER_MINUTE, "RATE_LIMITED": BURST - PER_MINUTE}
    assert outcomes("bob") == {"COMPLETED": 3}
    limited = [d for d in docs.values() if d["status"]["state"] == "ERROR"]
    for doc in limited:
        assert "emotion" not in doc and doc["text"] == "i feel so happy"  # kept, for Retry
        assert f"more than {PER_MINUTE} messages this minute" in doc["status"]["error"]["message"]
        assert doc["status"]["error"]["retryAt"]
    # No model ran for a refused message: the log holds one OK per classified message only.
    alice_paths = [p for p in paths if p.startswith("users/alice/")]
    logged = Counter(e["code"] for p in alice_paths for e in limited_stack.entries(p))
    assert logged["OK"] == PER_MINUTE and logged["RATE_LIMITED"] == BURST - PER_MINUTE

    from google.cloud import firestore

    os.environ["FIRESTORE_EMULATOR_HOST"] = limited_stack.emulator.host
    client = firestore.Client(project=limited_stack.emulator.project)
    counters = {snap.id.split("_")[0]: snap.to_dict() for snap in client.collection("rateLimits").stream()}
    assert counters["alice"]["day"] == PER_MINUTE and counters["bob"]["day"] == 3  # refusals given back
