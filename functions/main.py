"""Cloud Functions entry points. This file only declares; the logic is in chat_emotion/.

Deploy discovery imports this file with a 10 s limit, so nothing heavy is imported here:
onnxruntime, tokenizers, numpy and the Firestore/Storage clients load on the first event.

Params (set in functions/.env, functions/.env.<project>, or answered at `firebase deploy`):
  MODEL_STORE     where models live: gs://BUCKET/PREFIX in production; a folder for the emulator
                  and local runs (relative paths resolve against the repository root, so the
                  default `models/store` is the store shipped with the repository).
  DEFAULT_MODEL   what a message's `model: "default"` means: `store` (the default) follows
                  <store>/DEFAULT; or a model reference such as `minilm` or `minilm@2026-11-25`.
  MODEL_CACHE_MB  memory budget for models kept warm in one instance (least recently used evicted).
  RATE_PER_MINUTE, RATE_PER_DAY  messages one person (uid) may have classified per UTC minute / day;
                  past either, a message ends ERROR RATE_LIMITED before any model runs (0: no limit).
  ANONYMOUS_IDLE_DAYS  the scheduled sweep deletes anonymous accounts idle this many days, with
                  their messages, once a day (chat_emotion.cleanup; 0: never).
  MEMORY_MB, CONCURRENCY, MIN_INSTANCES, MAX_INSTANCES  the instance shape (see docs/FUNCTION.md).
The region and CPU count are plain options: the Python SDK takes no params for them.

Only `on_document_created` is used: the function's own writes are updates, which never fire a
created trigger, so a write-back can never trigger another classification.

`recover_messages` runs on a schedule and finishes what the trigger could not: messages left in
PROCESSING by an instance that died, and messages whose delivery was lost (chat_emotion.recovery).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# functions-framework names the one function an instance serves in FUNCTION_TARGET (Cloud Run and
# firebase-tools' Functions emulator set it); firebase-tools' discovery (firebase_functions'
# serving.py) does not. An instance serving the trigger reads its CloudEvents itself
# (chat_emotion.cloudevent: the same MessageEvent, proven equal on real events) and its parameters
# from the environment (chat_emotion.params, the SDK's reading without its module), and so never
# imports firestore_fn, whose google.cloud.firestore_v1 + firebase_admin imports were most of a
# cold start (docs/PERFORMANCE.md, "Cold start"). Everywhere else the SDK declares both.
SERVING_TRIGGER = os.environ.get("FUNCTION_TARGET") == "classify_message"

if SERVING_TRIGGER:
    from chat_emotion.params import IntParam, StringParam
else:
    from firebase_functions.params import IntParam, StringParam

REGION = "us-central1"
CPU = 1  # one vCPU: ONNX Runtime runs one intra-op thread per request, CONCURRENCY requests at once
TIMEOUT_S = 60
LEASE_S = TIMEOUT_S * 2  # a claim older than this belongs to a run that died
MAX_ATTEMPTS = 3  # claims of one message before it ends as ERROR ATTEMPTS_EXHAUSTED
RECOVERY_SCHEDULE = "every 5 minutes"
RECOVERY_TIMEOUT_S = 540
# The repository root when run from a checkout (emulator, tests); in the cloud the source folder's
# parent holds no models, so production sets MODEL_STORE to a gs:// URI.
BASE_DIR = Path(__file__).resolve().parent.parent

MODEL_STORE = StringParam(
    "MODEL_STORE", default="models/store",
    description="Model store: gs://BUCKET/PREFIX, or a folder (relative to the repository root)")
DEFAULT_MODEL = StringParam(
    "DEFAULT_MODEL", default="store",
    description="Model for messages asking for 'default': 'store' follows <store>/DEFAULT, or name[@version]")
MODEL_CACHE_MB = IntParam(
    "MODEL_CACHE_MB", default=192, description="Memory budget (MB) for models kept warm per instance")
RATE_PER_MINUTE = IntParam(
    "RATE_PER_MINUTE", default=30,
    description="Messages one person may have classified per minute (0: no limit)")
RATE_PER_DAY = IntParam(
    "RATE_PER_DAY", default=1000,
    description="Messages one person may have classified per UTC day (0: no limit)")
ANONYMOUS_IDLE_DAYS = IntParam(
    "ANONYMOUS_IDLE_DAYS", default=30,
    description="Days after which an idle anonymous account and its messages are deleted (0: never)")
MEMORY_MB = IntParam("MEMORY_MB", default=512, description="Instance memory in MB")
CONCURRENCY = IntParam("CONCURRENCY", default=16, description="Events one instance handles at once")
MIN_INSTANCES = IntParam("MIN_INSTANCES", default=0, description="Instances kept warm (0: free when idle)")
MAX_INSTANCES = IntParam("MAX_INSTANCES", default=10, description="Upper bound on instances (cost cap)")


TRIGGER = {"document": "users/{uid}/messages/{messageId}", "region": REGION, "cpu": CPU, "memory": MEMORY_MB,
           "concurrency": CONCURRENCY, "min_instances": MIN_INSTANCES, "max_instances": MAX_INSTANCES,
           "timeout_sec": TIMEOUT_S}


def _declare_recovery():  # -> the scheduled function (the SDK's scheduler_fn imports firebase_admin)
    from firebase_functions import scheduler_fn

    @scheduler_fn.on_schedule(
        schedule=RECOVERY_SCHEDULE,
        region=REGION,
        memory=MEMORY_MB,
        timeout_sec=RECOVERY_TIMEOUT_S,
        max_instances=1,  # one sweep at a time; the claim keeps overlapping sweeps safe anyway
    )
    def recover_messages(event: scheduler_fn.ScheduledEvent) -> None:
        """Finish messages stuck in PROCESSING past the lease, or never processed (lost delivery)."""
        from chat_emotion.recovery import run

        run(_settings(), project=_project(), anonymous_idle_days=ANONYMOUS_IDLE_DAYS.value)

    return recover_messages


if SERVING_TRIGGER:
    def classify_message(cloud_event) -> None:  # a cloudevents.http.CloudEvent
        """Classify a new chat message's emotion and write status + emotion back onto it."""
        from chat_emotion.cloudevent import message_event
        from chat_emotion.handler import handle_message

        handle_message(message_event(cloud_event), _settings())

    def __getattr__(name: str):
        """`recover_messages`, declared on first use. An instance serving the trigger never asks
        for it; a process that serves both (the test session) does."""
        if name != "recover_messages":
            raise AttributeError(f"module 'main' has no attribute {name!r}")
        globals()[name] = function = _declare_recovery()
        return function
else:
    from firebase_functions import firestore_fn

    @firestore_fn.on_document_created(**TRIGGER)
    def classify_message(event: firestore_fn.Event[firestore_fn.DocumentSnapshot | None]) -> None:
        """Classify a new chat message's emotion and write status + emotion back onto it."""
        from chat_emotion.handler import handle

        handle(event, _settings())

    recover_messages = _declare_recovery()


def _settings():  # -> chat_emotion.handler.Settings, imported lazily (deploy discovery)
    from chat_emotion.handler import Settings
    from chat_emotion.quota import Limits

    return Settings(
        model_store=MODEL_STORE.value,
        default_model=DEFAULT_MODEL.value,
        cache_mb=MODEL_CACHE_MB.value,
        lease_s=LEASE_S,
        max_attempts=MAX_ATTEMPTS,
        base_dir=BASE_DIR,
        limits=Limits(per_minute=RATE_PER_MINUTE.value, per_day=RATE_PER_DAY.value),
    )


def _project() -> str:
    """The project id: GCLOUD_PROJECT, else FIREBASE_CONFIG's projectId (both set by Firebase)."""
    project = os.environ.get("GCLOUD_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        config = os.environ.get("FIREBASE_CONFIG", "{}")
        if not config.lstrip().startswith("{"):
            config = Path(config).read_text()
        project = json.loads(config).get("projectId")
    if not project:
        raise RuntimeError("no project id: set GCLOUD_PROJECT")
    return project
