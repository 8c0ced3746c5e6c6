"""chat_emotion.batching: concurrent predict calls share model runs and get exactly their own results."""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from chat_emotion import batching
from chat_emotion.batching import BatchingClassifier
from chat_emotion.runtime import Classifier

from tests.support.tiny_model import TinyArtifact

TEXTS = [("i am so happy " * (i % 7 + 1)).strip() + f" {i}" for i in range(64)]


@pytest.fixture
def classifier(tiny_artifacts: dict[str, TinyArtifact]) -> Classifier:
    return Classifier.load(tiny_artifacts["single"].directory)


def test_concurrent_calls_get_their_own_results(classifier: Classifier) -> None:
    expected = {t: p.scores for t, p in zip(TEXTS, classifier.predict(TEXTS), strict=True)}
    batcher = BatchingClassifier(classifier, max_batch=8, max_wait_ms=5)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda t: (t, batcher.predict([t])[0]), TEXTS))
    for text, prediction in results:
        assert prediction.scores == pytest.approx(expected[text], abs=1e-5)
    assert batcher.batched_texts == len(TEXTS)
    assert batcher.runs < len(TEXTS)  # some calls shared a run


def test_a_lone_call_does_not_wait(classifier: Classifier) -> None:
    batcher = BatchingClassifier(classifier, max_wait_ms=1000)
    batcher.predict(["warm up"])
    started = time.perf_counter()
    batcher.predict(["alone"])
    assert time.perf_counter() - started < 0.5  # far below the 1 s max wait


def test_errors_reach_every_caller_and_the_worker_survives(classifier: Classifier,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    batcher = BatchingClassifier(classifier)
    real = classifier.predict
    monkeypatch.setattr(classifier, "predict", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        batcher.predict(["x"])
    monkeypatch.setattr(classifier, "predict", real)
    assert batcher.predict(["x"])[0].label in classifier.labels


def test_an_evicted_batcher_ends_its_worker(classifier: Classifier, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batching, "IDLE_CHECK_S", 0.05)
    batcher = BatchingClassifier(classifier)
    batcher.predict(["x"])
    worker = batcher._worker
    del batcher
    gc.collect()
    worker.join(timeout=5)
    assert not worker.is_alive()
