"""Dynamic batching: concurrent events on one instance share one model run (measured, not shipped).

benchmarks/load.py's `batched` mode puts this in front of the function's model; docs/PERFORMANCE.md
has the figures and why the function does not use it.

With per-instance concurrency, several events can be classified at the same moment. Run one by
one on request threads, each ONNX run reads every weight of the model for a handful of tokens;
one batched run reads them once for all. `BatchingClassifier` puts one worker thread in front of
a Classifier whose session uses every core (intra-op threads = cores):

  * adaptive wait: a request that finds the worker idle and nobody queued runs at once (no added
    latency when traffic is light); the worker waits up to `max_wait_ms` for more only while other
    requests are already queued, i.e. when the instance is busy anyway;
  * at most `max_batch` texts per run; texts are sorted by length and cut into runs of similar
    length, so short tweets are not padded to a long one (`bucket_ratio`);
  * results and errors go back to each caller; the worker never dies with a request.

`predict(texts)` has the Classifier's signature, so the handler uses either one unchanged.
Imports `chat_emotion` from functions/ (benchmarks put it on sys.path).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from chat_emotion.runtime import Classifier, Prediction


class BatchingClassifier:
    """A Classifier behind one worker thread that batches concurrent `predict` calls."""

    def __init__(
        self,
        classifier: Classifier,
        *,
        max_batch: int = 16,
        max_wait_ms: float = 2.0,
        bucket_ratio: float = 1.5,
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0 or bucket_ratio < 1:
            raise ValueError("max_batch >= 1, max_wait_ms >= 0 and bucket_ratio >= 1 are required")
        self.classifier = classifier
        self.manifest = classifier.manifest
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.bucket_ratio = bucket_ratio
        self.runs = 0
        self.batched_texts = 0
        self._queue: queue.SimpleQueue[tuple[str, Future[Prediction]]] = queue.SimpleQueue()
        # The worker holds the batcher only weakly between batches: once the model cache evicts
        # it, the worker notices within IDLE_CHECK_S and ends, and the model's memory is freed.
        self._worker = threading.Thread(
            target=_serve, args=(weakref.ref(self), self._queue), name="batching-classifier", daemon=True
        )
        self._worker.start()

    @property
    def labels(self) -> list[str]:
        return self.classifier.labels

    def estimated_bytes(self) -> int:
        return self.classifier.estimated_bytes()

    def predict(self, texts: Sequence[str], **_: Any) -> list[Prediction]:
        if isinstance(texts, str):
            raise TypeError("predict takes a sequence of texts, not one string: predict([text])")
        futures: list[Future[Prediction]] = []
        for text in texts:
            future: Future[Prediction] = Future()
            self._queue.put((text, future))
            futures.append(future)
        return [f.result() for f in futures]

    def _collect(self, first: tuple[str, Future[Prediction]]) -> list[tuple[str, Future[Prediction]]]:
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if 1 < len(batch) < self.max_batch and self.max_wait_s > 0:
            # Others were queued: the instance is busy, so a short wait fills the batch further.
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
        return batch

    def _run(self, batch: list[tuple[str, Future[Prediction]]]) -> None:
        try:
            lengths = [max(1, len(text)) for text, _ in batch]  # characters: a cheap proxy for tokens
            order = sorted(range(len(batch)), key=lambda i: lengths[i])
            for chunk in self._buckets(order, lengths):
                predictions = self.classifier.predict([batch[i][0] for i in chunk], batch_size=len(chunk))
                for i, prediction in zip(chunk, predictions, strict=True):
                    batch[i][1].set_result(prediction)
                self.runs += 1
                self.batched_texts += len(chunk)
        except BaseException as err:  # hand the failure to every waiting caller, keep serving
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)

    def _buckets(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Runs of indices (sorted by length) whose longest text is at most bucket_ratio x the shortest."""
        buckets: list[list[int]] = []
        for i in order:
            if buckets and lengths[i] <= lengths[buckets[-1][0]] * self.bucket_ratio:
                buckets[-1].append(i)
            else:
                buckets.append([i])
        return buckets


IDLE_CHECK_S = 5.0


def _serve(ref: weakref.ref[BatchingClassifier], requests: queue.SimpleQueue) -> None:
    """The worker: block for a request (idle: no wait, no spinning), batch what is queued, run."""
    while True:
        try:
            first = requests.get(timeout=IDLE_CHECK_S)
        except queue.Empty:
            if ref() is None:
                return
            continue
        batcher = ref()
        if batcher is None:  # evicted while a request was in flight: nobody can serve it
            first[1].set_exception(RuntimeError("the model was unloaded; classify again"))
            return
        batcher._run(batcher._collect(first))
        del batcher


def batch_threads() -> int:
    """Intra-op threads for the batching worker's session: every core the instance has."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
