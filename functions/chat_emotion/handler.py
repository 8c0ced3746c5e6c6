"""One Firestore "document created" event -> one classification written back, or a clear ERROR.

    parse the event -> claim (compare-and-set) -> validate -> resolve model -> load (cached) -> classify
    -> write status COMPLETED + emotion, or status ERROR + {code, message}

Every outcome is one structured log line (`firebase_functions.logger`: JSON with a severity,
which Cloud Logging indexes) carrying `code`, `path` and `eventId`. Nothing a client writes can
raise out of `handle`: retries are off for Python Firestore triggers, so an exception would only
lose the message; instead it ends as ERROR INTERNAL with the traceback in the log.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat_emotion import errors, quota
from chat_emotion import logs as logger
from chat_emotion.artifact import ArtifactError
from chat_emotion.repository import Claim, MessageRepository
from chat_emotion.store import ModelStore, StoreError, StoreUnavailableError, open_store
from chat_emotion.text import MAX_TEXT_UNITS, is_readable, utf16_length

REQUIRED_FIELDS = ("text", "model")
MESSAGE_PATH = re.compile(r"^users/(?P<uid>[^/]+)/messages/(?P<messageId>[^/]+)$")
STORE_DEFAULT = "store"
"""DEFAULT_MODEL's value meaning "whatever <store>/DEFAULT names"."""


@dataclass(frozen=True)
class Settings:
    """What main.py's params resolve to at run time (one direction: params -> Settings -> Service)."""

    model_store: str
    """MODEL_STORE: a folder (relative to `base_dir`) or gs://BUCKET/PREFIX."""
    default_model: str = STORE_DEFAULT
    """DEFAULT_MODEL: what a message's `model: "default"` means; `store` follows <store>/DEFAULT."""
    cache_mb: int = 384
    """MODEL_CACHE_MB: memory budget for warm models (estimated from file sizes)."""
    threads: int = 1
    """ONNX Runtime intra-op threads per request (concurrency gives the parallelism)."""
    lease_s: float = 600.0
    """A PROCESSING claim older than this belongs to a dead run and may be taken over."""
    max_attempts: int = 3
    """Claims of one message before it ends as ERROR ATTEMPTS_EXHAUSTED (each earlier run died)."""
    base_dir: Path | None = None
    """Where a relative MODEL_STORE is resolved (the repository root)."""
    limits: quota.Limits = quota.Limits()
    """RATE_PER_MINUTE / RATE_PER_DAY: messages one person may have classified (0: no limit)."""


@dataclass(frozen=True)
class MessageEvent:
    """The parts of a Firestore event the handler uses, free of the SDK's types."""

    document: str
    event_id: str
    project: str
    database: str = "(default)"
    model_hint: str | None = None
    """The `model` string as the event carried it: lets a cold instance start loading early."""


@dataclass(frozen=True)
class Outcome:
    state: str
    """COMPLETED, ERROR, or SKIPPED (nothing written: duplicate, deleted, foreign path)."""
    code: str | None = None
    emotion: dict[str, Any] | None = None


@dataclass
class Service:
    """The warm parts of an instance: repository, store, model cache. Built once per process."""

    repository: MessageRepository
    store: ModelStore | None
    settings: Settings
    store_error: StoreError | None = None
    """Why `store` is None (a MODEL_STORE that cannot be opened): recorded on each message."""
    cache: Any = field(default=None)  # chat_emotion.runtime.ModelCache, created lazily (imports onnxruntime)

    def model_cache(self) -> Any:
        # Under a lock: the first events of a fresh instance arrive together (concurrency), and two
        # caches would each load the model.
        with _cache_lock:
            if self.cache is None:
                from chat_emotion.runtime import ModelCache

                self.cache = ModelCache(budget_bytes=self.settings.cache_mb * 2**20)
            return self.cache


_cache_lock = threading.Lock()


class Rejected(Exception):
    """A message that cannot be classified, with the ERROR code to record."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def validate(data: dict[str, Any]) -> tuple[str, object]:
    """(text, model value) of a valid message, or Rejected with the first problem found."""
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise Rejected(errors.FIELDS_MISSING,
                       f"the message lacks {', '.join(missing)}; a message holds text, model and createdAt")
    text = data["text"]
    if not isinstance(text, str):
        raise Rejected(errors.TEXT_NOT_STRING, f"text must be a string, got {_type_name(text)}")
    if not is_readable(text):
        raise Rejected(errors.TEXT_EMPTY, "text has nothing to read (it is empty, or only spaces or "
                                          "invisible characters); there is nothing to classify")
    length = utf16_length(text)
    if length > MAX_TEXT_UNITS:
        raise Rejected(errors.TEXT_TOO_LONG,
                       f"text is {length} characters long counted as Firestore does (UTF-16: an emoji counts "
                       f"2); the limit is {MAX_TEXT_UNITS}: split the message")
    return text, data["model"]


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def parse_path(document: str) -> tuple[str, str]:
    """(uid, messageId) of `users/{uid}/messages/{messageId}`, else Rejected(EVENT_PATH_UNEXPECTED)."""
    match = MESSAGE_PATH.match(document or "")
    if not match:
        raise Rejected(errors.EVENT_PATH_UNEXPECTED,
                       f"event for {document!r}, not users/{{uid}}/messages/{{messageId}}; ignored")
    return match["uid"], match["messageId"]


def _classifier(service: Service, model_value: object) -> tuple[str, str, Any]:
    """(name, version, Classifier) for a message's `model` value, loaded through the instance cache."""
    store = service.store
    if store is None:
        raise service.store_error or StoreUnavailableError("no model store configured")
    configured = service.settings.default_model.strip()
    # `default` as DEFAULT_MODEL would point at itself: read it, like `store`, as "<store>/DEFAULT".
    default = None if configured.lower() in ("", STORE_DEFAULT, "default") else configured
    name, version = store.resolve(model_value, default=default)

    def load() -> Any:
        from chat_emotion.runtime import Classifier, estimate_model_bytes

        directory = store.fetch(name, version)
        # Checked before loading: a model past the whole budget would push the instance out of
        # memory and kill every request on it, not just this message's.
        needed, budget_mb = estimate_model_bytes(directory), service.settings.cache_mb
        if needed > budget_mb * 2**20:
            raise ArtifactError(
                f"model {name}@{version} needs ~{needed / 2**20:.0f} MB loaded, more than the instance's "
                f"model budget of {budget_mb} MB: raise MODEL_CACHE_MB (and MEMORY_MB) or pick a "
                "smaller model", code=errors.MODEL_TOO_LARGE)
        classifier = Classifier.load(directory, threads=service.settings.threads,
                                     verify=False)  # fetch has just verified every sha256
        store.release(name, version)
        return classifier

    return name, version, service.model_cache().get(f"{store.uri}|{name}@{version}", load)


def _prefetch(service: Service, model_value: object) -> None:
    """On an instance's first load, start loading the model the event names while the claim
    waits on Firestore: a cold start then pays for the slower of the two, not their sum.

    Best effort and off the warm path: the claim's copy of the message stays the truth (the
    event's may be a duplicate, or lie), and `classify` reports any failure of its own load;
    a load this thread began is shared with it through the cache, never done twice.
    """
    if service.store is None or (service.cache is not None and len(service.cache)):
        return

    def warm() -> None:
        with contextlib.suppress(Exception):
            _classifier(service, model_value)

    threading.Thread(target=warm, name="model-prefetch", daemon=True).start()


def classify(service: Service, text: str, model_value: object) -> dict[str, Any]:
    """The `emotion` map for `text` with the model the message asked for."""
    started = time.perf_counter()
    name, version, classifier = _classifier(service, model_value)
    prediction = classifier.predict([text])[0]
    emotion: dict[str, Any] = {
        "label": prediction.label,
        "score": prediction.score,
        "scores": prediction.scores,
        "model": name,
        "modelVersion": version,
        "latencyMs": round((time.perf_counter() - started) * 1000.0, 2),
    }
    if classifier.manifest.is_multi_label:
        emotion["labels"] = prediction.labels
    return emotion


def process(service: Service, event: MessageEvent) -> Outcome:
    """Run one event to its outcome; writes through `service.repository`, logs every outcome."""
    context = {"path": event.document, "eventId": event.event_id}
    try:
        uid, _ = parse_path(event.document)
    except Rejected as rejected:
        # Not our document: writing to it could clobber someone else's data. Log only.
        logger.warn(str(rejected), code=rejected.code, **context)
        return Outcome("SKIPPED", rejected.code)

    _prefetch(service, event.model_hint)
    limits = service.settings.limits
    counted = quota.window(uid) if limits.enabled else None
    try:
        claim: Claim = service.repository.claim(event.document, lease_s=service.settings.lease_s,
                                                count=counted)
    except Exception:
        # Firestore unreachable or contention beyond every retry: nothing can be written to the
        # message, so the log is the only record. Re-raised so the platform reports a failed run.
        logger.error("could not claim the message", code=errors.CLAIM_FAILED,
                     traceback=traceback.format_exc(), **context)
        raise
    if claim.kind == "missing":
        logger.warn("message deleted before it was processed; nothing to write",
                    code=errors.MESSAGE_DELETED, **context)
        return Outcome("SKIPPED", errors.MESSAGE_DELETED)
    if claim.kind == "taken":
        logger.info("duplicate delivery: the message is already claimed; nothing to do",
                    code=errors.DUPLICATE_DELIVERY, state=claim.state, **context)
        return Outcome("SKIPPED", errors.DUPLICATE_DELIVERY)

    if claim.attempt > service.settings.max_attempts:
        # Every earlier run died between its claim and its write (a message that kills the
        # instance, e.g. out of memory): stop here rather than kill instances forever.
        return _fail(service, event, errors.ATTEMPTS_EXHAUSTED,
                     f"{claim.attempt - 1} runs claimed this message and none finished (the instance "
                     "died each time); it will not be tried again", context)

    refused = quota.refusal(limits, claim.usage, counted) if claim.usage and counted else None
    if refused is not None:
        # Before any model runs; given back, so refused messages leave the quota as it was. Best
        # effort: a refund that fails leaves the count one high, never the message unanswered.
        try:
            service.repository.refund(counted)
        except Exception:
            logger.warn("the rate-limit count of a refused message could not be given back",
                        traceback=traceback.format_exc(), **context)
        sentence, retry_at = refused
        return _fail(service, event, errors.RATE_LIMITED, sentence, context, retry_at=retry_at)

    try:
        text, model_value = validate(claim.data or {})
        emotion = classify(service, text, model_value)
    except Rejected as rejected:
        return _fail(service, event, rejected.code, str(rejected), context)
    except (StoreError, ArtifactError) as err:
        return _fail(service, event, err.code, str(err), context)
    except Exception as err:  # the last line of defence: never leave a message PROCESSING
        logger.error("classification crashed", code=errors.INTERNAL, traceback=traceback.format_exc(),
                     **context)
        return _fail(service, event, errors.INTERNAL,
                     f"internal error ({type(err).__name__}); the message was not classified", context,
                     logged=True)

    if not service.repository.complete(event.document, emotion):
        logger.warn("message deleted while it was classified; result dropped",
                    code=errors.MESSAGE_DELETED, **context)
        return Outcome("SKIPPED", errors.MESSAGE_DELETED)
    logger.info("classified", code="OK", label=emotion["label"], model=emotion["model"],
                modelVersion=emotion["modelVersion"], latencyMs=emotion["latencyMs"], **context)
    return Outcome("COMPLETED", None, emotion)


def _fail(service: Service, event: MessageEvent, code: str, message: str, context: dict[str, str],
          *, logged: bool = False, retry_at: Any = None) -> Outcome:
    if not logged:
        logger.warn(message, code=code, **context)
    if not service.repository.fail(event.document, code, message, retry_at=retry_at):
        logger.warn("message deleted before its error could be recorded", code=errors.MESSAGE_DELETED,
                    originalCode=code, **context)
        return Outcome("SKIPPED", errors.MESSAGE_DELETED)
    return Outcome("ERROR", code)


# --- the process-wide service --------------------------------------------------------------------

_service: Service | None = None
_service_key: tuple[Settings, str, str] | None = None
_installed = False
_lock = threading.Lock()


def service_for(settings: Settings, event: MessageEvent) -> Service:
    """The instance's Service, built on first use and kept warm while the settings stay the same."""
    global _service, _service_key
    key = (settings, event.project, event.database)
    with _lock:
        if _service is None or (not _installed and _service_key != key):
            store: ModelStore | None = None
            store_error: StoreError | None = None
            try:
                store = open_store(settings.model_store, base_dir=settings.base_dir)
            except StoreError as err:
                store_error = err
            from chat_emotion.firestore_rest import RestRepository  # urllib3: on the first event only

            _service = Service(
                repository=RestRepository.for_database(event.project, event.database),
                store=store, settings=settings, store_error=store_error)
            _service_key = key
        return _service


def install(service: Service | None) -> None:
    """Use `service` for every event in this process (tests); None goes back to the default."""
    global _service, _service_key, _installed
    with _lock:
        _service, _service_key, _installed = service, None, service is not None


def handle(event: Any, settings: Settings) -> Outcome:
    """Entry from the SDK's wrapper: a firebase_functions `Event[DocumentSnapshot | None]`."""
    return handle_message(sdk_message_event(event), settings)


def handle_message(message_event: MessageEvent, settings: Settings) -> Outcome:
    """Entry from main.py's serving path (chat_emotion.cloudevent) and from `handle`."""
    return process(service_for(settings, message_event), message_event)


def sdk_message_event(event: Any) -> MessageEvent:
    """The MessageEvent of a firebase_functions `Event[DocumentSnapshot | None]`."""
    return MessageEvent(document=event.document, event_id=event.id, project=event.project,
                        database=event.database or "(default)", model_hint=_model_hint(event))


def _model_hint(event: Any) -> str | None:
    """The `model` string of the event's snapshot, or None: only a hint, so nothing here may raise."""
    try:
        hint = (event.data.to_dict() or {}).get("model") if event.data is not None else None
    except Exception:
        return None
    return hint if isinstance(hint, str) else None
